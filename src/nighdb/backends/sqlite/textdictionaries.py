"""The decoded dictionaries of text segments, kept for the queries of this process.

A query finds its terms in every segment's dictionary (``textsegments.Dictionary``), which
lives in the segment's ``terms`` blob: decoding it for every query would cost more than the
query, so decoded dictionaries are kept here. A segment never changes once written; a merge
may give its id to a new segment (``textmerges``), with a new random 63-bit ``salt``, so a
dictionary is keyed by (collection id, segment id, salt) and a stale one is never found.
A query only sees committed segments (its snapshot), so a key it found stays right for good
(a rolled-back write's segment was never seen by another connection).

The cache is bounded by the number of terms it holds, least recently used out first; a
segment's dictionary costs about 60 bytes a term (its strings in a list, its starts).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import cast

import apsw

from .schema import segments_table
from .textsegments import Dictionary

__all__ = ["MAX_TERMS", "clear", "segment_dictionaries"]

MAX_TERMS = 4_000_000
"""The most terms the cache holds, about 240 MB: a million items of English text have a few
hundred thousand distinct terms, so the dictionaries of several such collections fit."""

_Key = tuple[int, int, int]


class _Cache:
    """Dictionaries by key, least recently used first, at most ``MAX_TERMS`` terms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[_Key, Dictionary] = OrderedDict()
        self._terms = 0

    def get(self, key: _Key) -> Dictionary | None:
        with self._lock:
            dictionary = self._entries.get(key)
            if dictionary is not None:
                self._entries.move_to_end(key)
            return dictionary

    def put(self, key: _Key, dictionary: Dictionary) -> None:
        with self._lock:
            if key in self._entries or len(dictionary) > MAX_TERMS:
                return
            self._entries[key] = dictionary
            self._terms += len(dictionary)
            while self._terms > MAX_TERMS:
                _, evicted = self._entries.popitem(last=False)
                self._terms -= len(evicted)

    def terms(self) -> int:
        """How many terms the cached dictionaries hold."""
        return self._terms

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._terms = 0


_CACHE = _Cache()


def segment_dictionaries(conn: apsw.Connection, collection_id: int) -> list[tuple[int, Dictionary]]:
    """Every segment of the collection in ``conn``'s snapshot: (id, dictionary)."""
    table = segments_table(collection_id)
    out: list[tuple[int, Dictionary]] = []
    for raw_seg, raw_salt in conn.execute(f"SELECT seg, salt FROM {table}").fetchall():
        seg = int(cast(int, raw_seg))
        key = (collection_id, seg, int(cast(int, raw_salt)))
        dictionary = _CACHE.get(key)
        if dictionary is None:
            row = conn.execute(f"SELECT terms FROM {table} WHERE seg = ?", (seg,)).fetchone()
            if row is None:  # cannot happen within one snapshot; nothing to find then
                continue
            dictionary = Dictionary(cast(bytes, row[0]))
            _CACHE.put(key, dictionary)
        out.append((seg, dictionary))
    return out


def clear() -> None:
    """Forget every dictionary (their memory back; they are decoded again when needed)."""
    _CACHE.clear()
