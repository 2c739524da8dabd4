"""A byte-budgeted, thread-safe LRU of collection vector blocks and metadata columns.

The database stays the source of truth: an entry is only a copy tagged with the collection
version it reflects, and a reader uses it only after checking that version in its own
transaction. A block larger than the whole budget is never cached (its collection is
streamed instead), so memory stays bounded whatever the data size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Protocol

__all__ = ["DEFAULT_CACHE_BYTES", "BlockCache", "Sized"]

DEFAULT_CACHE_BYTES = 512 * 1024 * 1024


class Sized(Protocol):
    """Anything the cache holds says how many bytes it keeps alive."""

    @property
    def nbytes(self) -> int: ...


class BlockCache:
    def __init__(self, budget_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.budget_bytes = max(0, int(budget_bytes))
        self._entries: OrderedDict[Hashable, tuple[int, Sized]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used_bytes(self) -> int:
        return self._used

    def fits(self, nbytes: int) -> bool:
        return nbytes <= self.budget_bytes

    def get(self, key: Hashable) -> tuple[int, Sized] | None:
        """The cached ``(version, block)`` for ``key``, marked most recently used."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, version: int, block: Sized) -> None:
        size = block.nbytes
        with self._lock:
            self._pop(key)
            if size > self.budget_bytes:
                return
            while self._entries and self._used + size > self.budget_bytes:
                self._pop(next(iter(self._entries)))
            self._entries[key] = (version, block)
            self._used += size

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._pop(key)

    def discard_group(self, group: Hashable) -> None:
        """Drop every entry whose key is a tuple starting with ``group``."""
        with self._lock:
            for key in [k for k in self._entries if isinstance(k, tuple) and k[0] == group]:
                self._pop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._used = 0

    def _pop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._used -= entry[1].nbytes
