"""How a call of the pgvector backend reaches its collection: the pin cache and the runner.

Almost every call is about one collection and needs its pin (``registry.Pin``: the id that
names its table, its dimensions and metric, its index). Reading it from the registry on each
call would cost a round trip, so pins are cached for a few seconds per store. ``Pins.run``
then gives every per-collection call the same order of steps (contract: names, then
existence, then input) and the same recoveries:

* an input error found against a *cached* pin is checked again against a fresh one, so a
  collection dropped or recreated by another node reports not-found (or is served) first;
* a cached pin whose table is gone (``StaleTableError``) is forgotten and looked up again;
* a transaction Postgres aborted for a deadlock or a serialization failure is run again
  (``retrying``), which is safe because the whole transaction was rolled back.

Kept apart from ``store`` so the public methods read as validation and SQL, with the
caching and retrying written once here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import TypeVar

import psycopg

from ...errors import CollectionNotFoundError, NighError
from ...validation import check_collection_name, check_tenant
from .registry import Pin, read_pin
from .schema import READER_PREFIXES, Conn, Layout

__all__ = ["Pins", "StaleTableError", "retrying"]

T = TypeVar("T")
P = TypeVar("P")

# A cached pin is trusted this long: long enough to save a round trip on every call, short
# enough that another node's create_index is picked up soon. A stale pin is always safe: a
# dropped collection's table is gone, which the call notices and then looks again.
_PIN_TTL = 5.0
_PIN_CACHE_MAX = 10_000
# Deadlocks and serialization failures abort a whole transaction, so retrying is safe.
_RETRIES = 5


class StaleTableError(Exception):
    """The cached pin named a table that no longer exists: look the collection up again."""


class Pins:
    """A store's pin cache, and the runner of its per-collection calls. Thread-safe."""

    def __init__(
        self,
        layout: Layout,
        connection: Callable[[], AbstractContextManager[Conn]],
        read: Callable[[Callable[[Conn], Pin | None]], Pin | None],
    ) -> None:
        self._layout = layout
        self._connection = connection
        self._read = read  # a read on the primary, run again on a connection found dead
        self._lock = threading.Lock()
        self._pins: dict[tuple[str, str], tuple[float, Pin]] = {}

    def fresh(self, conn: Conn, tenant: str, name: str, *, lock: str = "") -> Pin | None:
        """The pin read from the registry now (and remembered), or None."""
        pin = read_pin(conn, self._layout, tenant, name, lock=lock)
        self.remember(tenant, name, pin)
        return pin

    def remember(self, tenant: str, name: str, pin: Pin | None) -> None:
        """Cache ``pin``; None forgets the collection (dropped, or its index changed)."""
        with self._lock:
            if pin is None:
                self._pins.pop((tenant, name), None)
                return
            if len(self._pins) >= _PIN_CACHE_MAX:
                self._pins.clear()
            self._pins[(tenant, name)] = (time.monotonic() + _PIN_TTL, pin)

    def _pin(self, tenant: str, name: str, *, cached: bool) -> tuple[Pin, bool]:
        """The collection's pin, from the cache when allowed; ``(pin, came_from_cache)``."""
        if cached:
            with self._lock:
                hit = self._pins.get((tenant, name))
            if hit is not None and hit[0] > time.monotonic():
                return hit[1], True
        pin = self._read(lambda conn: self.fresh(conn, tenant, name))
        if pin is None:
            raise CollectionNotFoundError(tenant, name)
        return pin, False

    def run(
        self,
        tenant: str,
        collection: str,
        prepare: Callable[[Pin], P],
        execute: Callable[[Conn, Pin, P], T],
        *,
        via: Callable[[Callable[[Conn], T]], T] | None = None,
    ) -> T:
        """Validate names, find the collection, ``prepare`` (validate input), ``execute``.

        the contract order: names, then existence, then input. ``prepare`` is pure; a validation
        error against a cached pin is re-checked against a fresh one, so a collection
        dropped by another node reports not-found first. ``via`` runs the execution on a
        connection of its choice (a read replica, ``replicas``); by default the primary's.
        """
        on = self.on_primary if via is None else via
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        use_cache = True
        for attempt in range(_RETRIES):
            pin, from_cache = self._pin(tenant, name, cached=use_cache)
            try:
                prepared = prepare(pin)
            except NighError:
                if not from_cache:
                    raise
                use_cache = False
                continue
            try:
                return on(partial(_execute, pin=pin, prepared=prepared, execute=execute))
            except StaleTableError:
                self.remember(tenant, name, None)
                use_cache = False
                if attempt == _RETRIES - 1:
                    raise CollectionNotFoundError(tenant, name) from None
        raise CollectionNotFoundError(tenant, name)

    def on_primary(self, work: Callable[[Conn], T]) -> T:
        """``work`` on a primary connection, run again after a deadlock."""
        with self._connection() as conn:
            return retrying(partial(work, conn))


def _execute(conn: Conn, *, pin: Pin, prepared: P, execute: Callable[[Conn, Pin, P], T]) -> T:
    try:
        return execute(conn, pin, prepared)
    except psycopg.errors.UndefinedTable as exc:
        raise StaleTableError() from exc
    except psycopg.errors.UndefinedFunction as exc:
        # A search calls the collection's readers, dropped with its tables.
        if not any(prefix in str(exc) for prefix in READER_PREFIXES):
            raise
        raise StaleTableError() from exc


def retrying(fn: Callable[[], T]) -> T:
    """Run a transaction body again when Postgres aborted it for a deadlock or serialization."""
    for attempt in range(_RETRIES):
        try:
            return fn()
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")
