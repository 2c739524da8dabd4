"""The PostgreSQL + pgvector backend: several application nodes share one durable store.

Each collection is a table with a ``vector(N)`` column (``schema``); the server ranks
with pgvector, the filter compiled into the WHERE (``filter``) so the result is the
top ``min(limit, matches)`` among matching items. pgvector accumulates distances in float32,
so the server returns a few more candidates than asked and they are re-ranked here in
float64 (``ranking.exact_distances``, the code SQLite uses): distances and the order of
near-ties are the same on both backends.

Search is exact unless the collection has an HNSW index (``create_index``). Exact scans call
pgvector's distance *functions*, which no index can serve, so an index never silently makes
an exact search approximate; indexed searches use the distance operators with iterative
scans and fall back to an exact scan whenever the index yields fewer than ``limit`` rows.

Concurrency: a ``psycopg_pool`` pool (connections are checked before use, so the store
recovers by itself after a server restart); collections are created under an advisory lock;
writers insert in id order and retry deadlocks; a collection dropped concurrently surfaces as
``CollectionNotFoundError``. Every driver error is translated at this boundary.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from ...errors import CollectionNotFoundError, InvalidArgumentError, NighError
from ...filters import FilterNode, parse_filter
from ...indexes import check_ef_search, check_exact, check_index_options
from ...jsontext import encode_json
from ...keys import KeyRecord, KeyRegistry
from ...models import F32, Collection, Item, ItemLike, Match, VectorLike
from ...store import ClosingContext, Store, redacted_url
from ...validation import (
    ItemBatch,
    Patch,
    apply_patches,
    check_collection,
    check_collection_name,
    check_compatible,
    check_delete_target,
    check_ids,
    check_limit,
    check_new_collection,
    check_page,
    check_scroll,
    check_tenant,
    validate_items,
    validate_patches,
    validate_queries,
    validate_query,
)
from . import index as hnsw
from . import keys as keys
from .filter import compile_filter, filter_document
from .index import HnswIndex
from .schema import (
    Conn,
    Layout,
    bootstrap,
    connect_options,
    lock_key,
    translate_errors,
)
from .search import Ranker, SearchPlan
from .vector import register_vector
from .write import write_items

__all__ = ["PostgresStore"]

S = TypeVar("S")
T = TypeVar("T")
P = TypeVar("P")

# A cached pin is trusted this long: long enough to save a round trip on every call, short
# enough that another node's create_index is picked up soon. A stale pin is always safe: a
# dropped collection's table is gone, which the call notices and then looks again.
_PIN_TTL = 5.0
_PIN_CACHE_MAX = 10_000
# Deadlocks and serialization failures abort a whole transaction, so retrying is safe.
_RETRIES = 5
_PIN_COLUMNS = sql.SQL(
    "id, name, dimensions, embedding_model, metric, hnsw_m, hnsw_ef_construction"
)


@dataclass(frozen=True)
class _Pin:
    id: int
    collection: Collection
    index: HnswIndex | None

    @staticmethod
    def from_row(row: TupleRow) -> _Pin:
        cid, name, dims, model, metric, m, ef = row
        index = None if m is None else HnswIndex(int(m), int(ef))
        return _Pin(int(cid), Collection(str(name), int(dims), str(model), str(metric)), index)


class _StaleTableError(Exception):
    """The cached pin named a table that no longer exists: look the collection up again."""


class PostgresStore(ClosingContext):
    """``Store`` over PostgreSQL + pgvector. Thread-safe; any number of processes and nodes
    may share the database.

    Options: ``pool_min_size``/``pool_max_size`` (connections per store), ``timeout`` (seconds
    a call waits for a connection; when the server is down, calls fail with
    ``StoreUnavailableError`` after this long), ``connect_timeout`` (libpq's, seconds),
    ``ef_search`` (the default HNSW candidate list size for indexed collections),
    ``create`` (default true: create pgvector and the nighdb tables in the connection's schema
    if missing; ``create=False`` refuses a schema without them with ``InvalidArgumentError``
    and creates nothing). The database itself must exist either way: nighdb never creates
    PostgreSQL databases or schemas.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        timeout: float = 10.0,
        connect_timeout: int = 5,
        ef_search: int = 40,
        create: bool = True,
    ) -> None:
        if not 0 <= pool_min_size <= pool_max_size or pool_max_size < 1:
            raise InvalidArgumentError("need 0 <= pool_min_size <= pool_max_size, 1 <= max")
        if timeout <= 0:
            raise InvalidArgumentError("timeout must be positive")
        self._ef_search = hnsw.check_ef_search(ef_search)
        self._timeout = float(timeout)
        kwargs = connect_options(url, connect_timeout=connect_timeout, timeout=timeout)
        self._where = redacted_url(url)
        self._closed = False
        self._lock = threading.Lock()
        self._pins: dict[tuple[str, str], tuple[float, _Pin]] = {}
        with translate_errors(self._timeout), psycopg.connect(url, **kwargs) as conn:
            boot = bootstrap(conn, create=create)
        self._layout: Layout = boot.layout
        self._vector_info = boot.vector_info
        self._ranker = Ranker(boot.layout, iterative_scans=boot.pgvector_version >= (0, 8))
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=pool_min_size,
            max_size=pool_max_size,
            open=False,
            configure=self._configure,
            check=ConnectionPool.check_connection,
            timeout=self._timeout,
            # Give up a failing reconnection loop soon: the next call then starts a fresh
            # attempt at once instead of waiting out a long backoff after the server is back.
            reconnect_timeout=self._timeout,
            name="nighdb",
        )
        try:
            with translate_errors(self._timeout):
                # Waiting for the first connections also keeps the pool's background threads
                # (which draw from the global ``random`` for jitter) quiet once open returns.
                self._pool.open(wait=True, timeout=self._timeout)
        except BaseException:
            self._pool.close()
            raise

    def _configure(self, conn: Conn) -> None:
        # Binary vector codecs on every pooled connection; the type was looked up once.
        register_vector(conn, self._vector_info)
        self._ranker.configure(conn)

    # -- connections, pins and retries -------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Conn]:
        if self._closed:
            raise InvalidArgumentError("this store is closed; open a new one")
        with translate_errors(self._timeout), self._pool.connection() as conn:
            yield conn

    def _fresh_pin(self, conn: Conn, tenant: str, name: str, *, lock: str = "") -> _Pin | None:
        row = conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE tenant = %s AND name = %s {}").format(
                _PIN_COLUMNS, self._layout.collections, sql.SQL(lock)
            ),
            (tenant, name),
        ).fetchone()
        pin = None if row is None else _Pin.from_row(row)
        self._remember(tenant, name, pin)
        return pin

    def _remember(self, tenant: str, name: str, pin: _Pin | None) -> None:
        with self._lock:
            if pin is None:
                self._pins.pop((tenant, name), None)
                return
            if len(self._pins) >= _PIN_CACHE_MAX:
                self._pins.clear()
            self._pins[(tenant, name)] = (time.monotonic() + _PIN_TTL, pin)

    def _pin(self, tenant: str, name: str, *, cached: bool) -> tuple[_Pin, bool]:
        """The collection's pin, from the cache when allowed; ``(pin, came_from_cache)``."""
        if cached:
            with self._lock:
                hit = self._pins.get((tenant, name))
            if hit is not None and hit[0] > time.monotonic():
                return hit[1], True
        with self._connection() as conn:
            pin = self._fresh_pin(conn, tenant, name)
        if pin is None:
            raise CollectionNotFoundError(tenant, name)
        return pin, False

    def _run(
        self,
        tenant: str,
        collection: str,
        prepare: Callable[[_Pin], P],
        execute: Callable[[Conn, _Pin, P], T],
    ) -> T:
        """Validate names, find the collection, ``prepare`` (validate input), ``execute``.

        the contract order: names, then existence, then input. ``prepare`` is pure; a validation
        error against a cached pin is re-checked against a fresh one, so a collection
        dropped by another node reports not-found first.
        """
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
                with self._connection() as conn:
                    return _retrying(partial(self._execute, conn, pin, prepared, execute))
            except _StaleTableError:
                self._remember(tenant, name, None)
                use_cache = False
                if attempt == _RETRIES - 1:
                    raise CollectionNotFoundError(tenant, name) from None
        raise CollectionNotFoundError(tenant, name)

    @staticmethod
    def _execute(conn: Conn, pin: _Pin, prepared: P, execute: Callable[[Conn, _Pin, P], T]) -> T:
        try:
            return execute(conn, pin, prepared)
        except psycopg.errors.UndefinedTable as exc:
            raise _StaleTableError() from exc

    # -- collections ------------------------------------------------------------------

    def ensure_collection(self, tenant: str, collection: Collection) -> Collection:
        tenant = check_tenant(tenant)
        wanted = check_collection(collection)
        with self._connection() as conn:
            pin = self._fresh_pin(conn, tenant, wanted.name)
            if pin is not None:
                return check_compatible(pin.collection, wanted)
            with conn.transaction():
                # One creator per (tenant, name), whatever the number of processes and nodes.
                key = lock_key(self._layout.schema, tenant, wanted.name)
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                pin = self._fresh_pin(conn, tenant, wanted.name)
                if pin is not None:
                    return check_compatible(pin.collection, wanted)
                check_new_collection(wanted)
                row = conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (tenant, name, dimensions, embedding_model, metric) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING {}"
                    ).format(self._layout.collections, _PIN_COLUMNS),
                    (tenant, wanted.name, wanted.dimensions, wanted.embedding_model, wanted.metric),
                ).fetchone()
                assert row is not None
                pin = _Pin.from_row(row)
                conn.execute(self._layout.items_ddl(pin.id, wanted.dimensions))
        self._remember(tenant, wanted.name, pin)
        return wanted

    def describe_collection(self, tenant: str, name: str) -> Collection | None:
        tenant = check_tenant(tenant)
        name = check_collection_name(name)
        with self._connection() as conn:
            pin = self._fresh_pin(conn, tenant, name)
        return None if pin is None else pin.collection

    def list_collections(self, tenant: str) -> list[Collection]:
        tenant = check_tenant(tenant)
        with self._connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT {} FROM {} WHERE tenant = %s ORDER BY name").format(
                    _PIN_COLUMNS, self._layout.collections
                ),
                (tenant,),
            ).fetchall()
        return [_Pin.from_row(r).collection for r in rows]

    def list_tenants(self) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT DISTINCT tenant FROM {} ORDER BY tenant").format(
                    self._layout.collections
                )
            ).fetchall()
        return [str(r[0]) for r in rows]

    def drop_collection(self, tenant: str, name: str) -> int:
        tenant = check_tenant(tenant)
        name = check_collection_name(name)
        with self._connection() as conn:
            removed = _retrying(lambda: self._drop(conn, tenant, name))
        self._remember(tenant, name, None)
        return removed

    def _drop(self, conn: Conn, tenant: str, name: str) -> int:
        with conn.transaction():
            row = conn.execute(
                sql.SQL("DELETE FROM {} WHERE tenant = %s AND name = %s RETURNING id").format(
                    self._layout.collections
                ),
                (tenant, name),
            ).fetchone()
            if row is None:
                return 0
            table = self._layout.items(int(row[0]))
            # Wait for in-flight writers first, so the count is exactly what is removed.
            conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
            counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            conn.execute(sql.SQL("DROP TABLE {}").format(table))
        return 0 if counted is None else int(counted[0])

    def count(
        self, tenant: str, collection: str, *, filter: Mapping[str, Any] | None = None
    ) -> int:
        def execute(conn: Conn, pin: _Pin, where: _Where) -> int:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                    self._layout.items(pin.id), where[0]
                ),
                where[1],
            ).fetchone()
            return 0 if row is None else int(row[0])

        return self._run(tenant, collection, lambda _pin: _where(filter), execute)

    # -- writes -----------------------------------------------------------------------

    def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int:
        batch_in = _replayable(items)

        def prepare(pin: _Pin) -> ItemBatch:
            c = pin.collection
            return validate_items(c.name, c.dimensions, c.metric, batch_in)

        def execute(conn: Conn, pin: _Pin, batch: ItemBatch) -> int:
            if len(batch):
                write_items(conn, self._layout, pin.id, self._vector_info.oid, batch)
            return len(batch)

        return self._run(tenant, collection, prepare, execute)

    def delete(
        self,
        tenant: str,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
    ) -> int:
        def prepare(_pin: _Pin) -> _Where | None:
            wanted = check_delete_target(asked, filter)
            if wanted is None:
                return _where(filter)
            if not wanted:
                return None
            return sql.SQL("id = ANY(%s::text[])"), [wanted]

        def execute(conn: Conn, pin: _Pin, where: _Where | None) -> int:
            if where is None:
                return 0
            # One statement, so one transaction (the connection autocommits): all or nothing.
            cur = conn.execute(
                sql.SQL("DELETE FROM {} WHERE {}").format(self._layout.items(pin.id), where[0]),
                where[1],
            )
            return cur.rowcount

        asked = None if ids is None else _replayable(ids)
        return self._run(tenant, collection, prepare, execute)

    def update(self, tenant: str, collection: str, patches: Sequence[Mapping[str, Any]]) -> int:
        """Contract §13: every patch validated; then, in one transaction, the patched rows are
        locked in id order (``FOR UPDATE``: a concurrent upsert of the same id waits, or is
        waited for), read, patched and written back with their filter copy of the metadata."""
        asked = _replayable(patches)

        def prepare(pin: _Pin) -> list[Patch]:
            c = pin.collection
            return validate_patches(c.name, c.dimensions, c.metric, asked)

        def execute(conn: Conn, pin: _Pin, checked: list[Patch]) -> int:
            if not checked:
                return 0
            table = self._layout.items(pin.id)
            with conn.transaction():
                found = conn.execute(
                    sql.SQL(
                        "SELECT id, metadata_json FROM {} WHERE id = ANY(%s::text[]) "
                        'ORDER BY id COLLATE "C" FOR UPDATE'
                    ).format(table),
                    (sorted({p.id for p in checked}),),
                ).fetchall()
                stored = {str(i): json.loads(m) for i, m in found}
                rows = apply_patches(pin.collection.name, checked, stored)
                params = []
                for r in rows:
                    meta = None if r.metadata is None else encode_json(r.metadata)
                    doc = None if meta is None else filter_document(meta, r.metadata)
                    params.append((r.vector, doc, meta, r.text, r.id))
                with conn.cursor() as cur:
                    cur.executemany(
                        sql.SQL(
                            "UPDATE {} SET embedding = coalesce(%s, embedding), "
                            "metadata = coalesce(%s::jsonb, metadata), "
                            "metadata_json = coalesce(%s::text, metadata_json), "
                            "text = coalesce(%s::text, text) WHERE id = %s"
                        ).format(table),
                        params,
                    )
            return len(checked)

        return self._run(tenant, collection, prepare, execute)

    # -- reads ------------------------------------------------------------------------

    def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        """The stored items with these ids, in the order asked, each once; absent ids are
        omitted. Vectors come back as float32 arrays, bit for bit as stored."""

        def execute(conn: Conn, pin: _Pin, wanted: list[str]) -> list[Item]:
            if not wanted:
                return []
            rows = conn.execute(
                sql.SQL(
                    "SELECT id, embedding, metadata_json, text FROM {} WHERE id = ANY(%b::text[])"
                ).format(self._layout.items(pin.id)),
                (wanted,),
                binary=True,
            ).fetchall()
            found = {
                str(i): Item(str(i), vector, json.loads(meta), str(text))
                for i, vector, meta, text in rows
            }
            return [found[i] for i in dict.fromkeys(wanted) if i in found]

        asked = _replayable(ids)
        return self._run(tenant, collection, lambda _pin: check_ids(asked), execute)

    def list_ids(
        self,
        tenant: str,
        collection: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> list[str]:
        def prepare(_pin: _Pin) -> tuple[str | None, int | None, _Where]:
            start, count = check_page(after, limit)
            return start, count, _where(filter)

        def execute(
            conn: Conn, pin: _Pin, page: tuple[str | None, int | None, _Where]
        ) -> list[str]:
            table = self._layout.items(pin.id)
            start, count, (where, params) = page
            if start is None and count is None:
                everything = sql.SQL("SELECT id FROM {} WHERE {}").format(table, where)
                rows = conn.execute(everything, params).fetchall()
            else:
                paged = sql.SQL("SELECT id FROM {} WHERE id > %s AND {} ORDER BY id LIMIT %s")
                rows = conn.execute(
                    paged.format(table, where),
                    ["" if start is None else start, *params, count],
                ).fetchall()
            return [str(r[0]) for r in rows]

        return self._run(tenant, collection, prepare, execute)

    def scroll(
        self,
        tenant: str,
        collection: str,
        *,
        filter: Mapping[str, Any] | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Item]:
        def prepare(_pin: _Pin) -> tuple[_Where, str, int]:
            where = _where(filter)
            start, count = check_scroll(after, limit)
            return where, "" if start is None else start, count

        def execute(conn: Conn, pin: _Pin, page: tuple[_Where, str, int]) -> list[Item]:
            (where, params), start, count = page
            rows = conn.execute(
                sql.SQL(
                    "SELECT id, embedding, metadata_json, text FROM {} "
                    "WHERE id > %s AND {} ORDER BY id LIMIT %s"
                ).format(self._layout.items(pin.id), where),
                [start, *params, count],
                binary=True,
            ).fetchall()
            return [Item(str(i), v, json.loads(m), str(t)) for i, v, m, t in rows]

        return self._run(tenant, collection, prepare, execute)

    def search(
        self,
        tenant: str,
        collection: str,
        query: VectorLike,
        *,
        limit: int = 10,
        filter: Mapping[str, Any] | None = None,
        ef_search: int | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """contract §5. On an indexed collection, ``ef_search`` overrides the store's default and
        ``exact=True`` scans exactly anyway."""

        def queries(pin: _Pin) -> F32:
            c = pin.collection
            return validate_query(c.name, c.dimensions, c.metric, query)[np.newaxis, :]

        return self._search(tenant, collection, queries, limit, filter, ef_search, exact)[0]

    def search_many(
        self,
        tenant: str,
        collection: str,
        queries: Sequence[VectorLike] | Any,
        *,
        limit: int = 10,
        filter: Mapping[str, Any] | None = None,
        ef_search: int | None = None,
        exact: bool = False,
    ) -> list[list[Match]]:
        def matrix(pin: _Pin) -> F32:
            c = pin.collection
            return validate_queries(c.name, c.dimensions, c.metric, queries)

        return self._search(tenant, collection, matrix, limit, filter, ef_search, exact)

    def _search(
        self,
        tenant: str,
        collection: str,
        queries: Callable[[_Pin], F32],
        limit: int,
        filter: Mapping[str, Any] | None,
        ef_search: int | None,
        exact: bool,
    ) -> list[list[Match]]:
        def prepare(pin: _Pin) -> SearchPlan:
            matrix = queries(pin)
            k = check_limit(limit)
            tree: FilterNode | None = parse_filter(filter)
            ef = check_ef_search(ef_search)  # checked with or without an index
            ef = self._ef_search if ef is None else ef
            where = None if tree is None else compile_filter(tree)
            use_index = not check_exact(exact) and pin.index is not None
            return SearchPlan(matrix, k, where, ef if use_index else None)

        def execute(conn: Conn, pin: _Pin, plan: SearchPlan) -> list[list[Match]]:
            return self._ranker.search(conn, pin.id, pin.collection.metric, plan)

        return self._run(tenant, collection, prepare, execute)

    # -- HNSW indexes -----------------------------------------------------------------

    def create_index(
        self, tenant: str, collection: str, *, m: int = 16, ef_construction: int = 64
    ) -> HnswIndex:
        """Build (or rebuild with new options) the collection's HNSW index.

        Searches then use it (approximately, see docs/postgres.md). The build blocks writes
        to this collection, not reads, until it finishes.
        """
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._connection() as conn, conn.transaction():
            pin = self._locked_pin(conn, tenant, name)
            wanted = check_index_options(m, ef_construction)  # after existence (contract §2)
            if pin.collection.dimensions > hnsw.MAX_INDEX_DIMENSIONS:
                raise InvalidArgumentError(
                    f"collection {name!r} holds {pin.collection.dimensions}-dimensional vectors; "
                    f"pgvector's HNSW index takes at most {hnsw.MAX_INDEX_DIMENSIONS} "
                    "dimensions, so it stays exact"
                )
            hnsw.build(conn, self._layout, pin.id, pin.collection.metric, wanted)
        self._remember(tenant, name, None)
        return wanted

    def drop_index(self, tenant: str, collection: str) -> bool:
        """Remove the collection's HNSW index (searches are exact again); False if none."""
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._connection() as conn, conn.transaction():
            pin = self._locked_pin(conn, tenant, name)
            hnsw.remove(conn, self._layout, pin.id)
        self._remember(tenant, name, None)
        return pin.index is not None

    def describe_index(self, tenant: str, collection: str) -> HnswIndex | None:
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._connection() as conn:
            pin = self._fresh_pin(conn, tenant, name)
        if pin is None:
            raise CollectionNotFoundError(tenant, name)
        return pin.index

    def _locked_pin(self, conn: Conn, tenant: str, name: str) -> _Pin:
        """The pin, its row locked until the transaction ends (index changes serialise)."""
        pin = self._fresh_pin(conn, tenant, name, lock="FOR UPDATE")
        if pin is None:
            raise CollectionNotFoundError(tenant, name)
        return pin

    # -- API keys (nighdb.keys.KeyRegistry) ------------------------------------------

    def add_key(self, record: KeyRecord) -> None:
        with self._connection() as conn:
            keys.add_key(conn, self._layout, record)

    def find_key(self, key_id: str) -> KeyRecord | None:
        with self._connection() as conn:
            return keys.find_key(conn, self._layout, key_id)

    def list_keys(self) -> list[KeyRecord]:
        with self._connection() as conn:
            return keys.list_keys(conn, self._layout)

    def revoke_key(self, key_id: str) -> bool:
        with self._connection() as conn:
            return keys.revoke_key(conn, self._layout, key_id)

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(psycopg.Error):
            self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self._where})"


if TYPE_CHECKING:

    def _conforms(store: PostgresStore) -> tuple[Store, KeyRegistry]:
        """mypy proves here that the backend satisfies both protocols."""
        return store, store


def _replayable(values: Iterable[S]) -> Iterable[S]:
    """An iterator as a list: ``_run`` may validate its input twice (see there)."""
    return list(values) if isinstance(values, Iterator) else values


_Where = tuple[sql.Composable, list[object]]


def _where(filter: Mapping[str, Any] | None) -> _Where:
    """A filter as a WHERE expression and its parameters (no filter: ``true``)."""
    tree = parse_filter(filter)
    if tree is None:
        return sql.SQL("true"), []
    return compile_filter(tree)


def _retrying(fn: Callable[[], T]) -> T:
    """Run a transaction body again when Postgres aborted it for a deadlock or serialization."""
    for attempt in range(_RETRIES):
        try:
            return fn()
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
            if attempt == _RETRIES - 1:
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")
