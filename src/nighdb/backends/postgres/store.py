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

Concurrency: a ``psycopg_pool`` pool (a connection is checked with a round trip only when
it idled a while or its socket shows the server went away, ``liveness``, so the store
recovers by itself after a server restart); collections are created under an advisory lock;
writers insert in id order and retry deadlocks; a collection dropped concurrently surfaces as
``CollectionNotFoundError``. Every driver error is translated at this boundary.

This module is the ``Store`` itself: the pool, each method's checks in the contract's order,
and which statement runs. ``connections`` holds what its method groups share (a call's
connection, a read's replica); ``item_reads`` has fetch, list_ids and scroll,
``item_writes`` upsert, delete and update, ``index_methods`` the index calls. The statements
live beside it: ``registry`` (the collections table), ``pins`` (the pin cache and the runner
that retries), ``rows`` (count, delete, fetch, list, scroll and update of items), ``write``
(upsert), ``search``, ``index`` and ``keys``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from ...errors import InvalidArgumentError
from ...filters import FilterNode, parse_filter
from ...indexes import check_ef_search, check_exact
from ...keys import KeyRecord, KeyRegistry
from ...models import F32, Collection, Match, VectorLike
from ...store import ClosingContext, Store, redacted_url
from ...validation import (
    SearchInputs,
    check_collection,
    check_collection_name,
    check_compatible,
    check_limit,
    check_new_collection,
    check_tenant,
    validate_queries,
    validate_query,
    validate_search,
)
from . import index as hnsw
from . import keys as keys
from . import registry, rows
from .bootstrap import bootstrap
from .conninfo import connect_options
from .driver_errors import translate_errors
from .filter import compile_filter
from .index_methods import IndexMethods
from .item_reads import ItemReads
from .item_writes import ItemWrites
from .liveness import Liveness
from .pins import Pins, retrying
from .registry import Pin
from .replicas import ReadRouter
from .rows import Where
from .schema import Conn, lock_key
from .search import Ranker, SearchPlan
from .textsearch import hybrid_search, text_search
from .upgrade import upgrade
from .vector import register_vector

__all__ = ["PostgresStore"]


class PostgresStore(ItemWrites, ItemReads, IndexMethods, ClosingContext):
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

    Deployments (contract §17, ``replicas``): ``read_urls`` are streaming replicas of this
    primary that serve searches, counts, scrolls and fetches (round robin; one that does not
    answer is skipped); ``read_your_writes`` sends a read to the primary when the replica has
    not replayed this store's last write yet. ``prepare`` (default false) lets psycopg prepare
    statements on the server, which a transaction-mode pooler such as PgBouncer breaks.
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
        read_urls: Sequence[str] = (),
        read_your_writes: bool = False,
        prepare: bool = False,
    ) -> None:
        if not 0 <= pool_min_size <= pool_max_size or pool_max_size < 1:
            raise InvalidArgumentError("need 0 <= pool_min_size <= pool_max_size, 1 <= max")
        if timeout <= 0:
            raise InvalidArgumentError("timeout must be positive")
        self._ef_search = hnsw.check_ef_search(ef_search)
        self._timeout = float(timeout)
        if isinstance(read_urls, str) or not all(isinstance(u, str) for u in read_urls):
            raise InvalidArgumentError("read_urls must be a list of PostgreSQL URLs")
        for read_url in read_urls:  # a malformed replica URL is refused before connecting
            connect_options(read_url, connect_timeout=connect_timeout, timeout=timeout)
        kwargs = connect_options(
            url, connect_timeout=connect_timeout, timeout=timeout, prepare=bool(prepare)
        )
        self._where = redacted_url(url)
        self._closed = False
        self._lock = threading.Lock()
        with translate_errors(self._timeout), psycopg.connect(url, **kwargs) as conn:
            boot = bootstrap(conn, create=create)
            upgrade(conn, boot.layout)
        self._layout = boot.layout
        self._pins = Pins(boot.layout, self._connection, self._read_primary)
        self._vector_info = boot.vector_info
        self._ranker = Ranker(boot.layout, iterative_scans=boot.pgvector_version >= (0, 8))
        self._liveness = Liveness()
        self._pool = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=pool_min_size,
            max_size=pool_max_size,
            open=False,
            configure=self._configure_primary,
            check=self._liveness.check,  # a round trip only when needed (``liveness``)
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
        self._router = ReadRouter(
            list(read_urls),
            pool_max_size=pool_max_size,
            timeout=self._timeout,
            prepare=bool(prepare),
            configure=self._configure,
            read_your_writes=bool(read_your_writes),
        )

    def _configure(self, conn: Conn) -> None:
        # Binary vector codecs on every pooled connection; the type was looked up once.
        register_vector(conn, self._vector_info)
        self._ranker.configure(conn)

    def _configure_primary(self, conn: Conn) -> None:
        self._configure(conn)
        self._liveness.made(conn)

    # -- collections ------------------------------------------------------------------

    def ensure_collection(self, tenant: str, collection: Collection) -> Collection:
        tenant = check_tenant(tenant)
        wanted = check_collection(collection)
        with self._connection() as conn:
            pin = self._pins.fresh(conn, tenant, wanted.name)
            if pin is not None:
                return check_compatible(pin.collection, wanted)
            with conn.transaction():
                # One creator per (tenant, name), whatever the number of processes and nodes.
                key = lock_key(self._layout.schema, tenant, wanted.name)
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                pin = self._pins.fresh(conn, tenant, wanted.name)
                if pin is not None:
                    return check_compatible(pin.collection, wanted)
                wanted = check_new_collection(wanted)
                pin = registry.insert_collection(conn, self._layout, tenant, wanted)
            self._router.wrote(conn)
        self._pins.remember(tenant, wanted.name, pin)
        return wanted

    def describe_collection(self, tenant: str, name: str) -> Collection | None:
        tenant = check_tenant(tenant)
        name = check_collection_name(name)
        with self._connection() as conn:
            pin = self._pins.fresh(conn, tenant, name)
        return None if pin is None else pin.collection

    def list_collections(self, tenant: str) -> list[Collection]:
        tenant = check_tenant(tenant)
        with self._connection() as conn:
            return registry.list_collections(conn, self._layout, tenant)

    def list_tenants(self) -> list[str]:
        with self._connection() as conn:
            return registry.list_tenants(conn, self._layout)

    def drop_collection(self, tenant: str, name: str) -> int:
        tenant = check_tenant(tenant)
        name = check_collection_name(name)
        with self._connection() as conn:
            removed = retrying(partial(registry.drop_collection, conn, self._layout, tenant, name))
            self._router.wrote(conn)
        self._pins.remember(tenant, name, None)
        return removed

    def count(
        self, tenant: str, collection: str, *, filter: Mapping[str, Any] | None = None
    ) -> int:
        def execute(conn: Conn, pin: Pin, where: Where) -> int:
            return rows.count_items(conn, self._layout.items(pin.id), where)

        return self._pins.run(
            tenant, collection, lambda _pin: rows.where(filter), execute, via=self._read
        )

    # -- search -----------------------------------------------------------------------

    def search(
        self,
        tenant: str,
        collection: str,
        query: VectorLike | None = None,
        *,
        text: str | None = None,
        limit: int = 10,
        filter: Mapping[str, Any] | None = None,
        text_weight: float = 0.5,
        ef_search: int | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """contract §5 and §14. On an indexed collection, ``ef_search`` overrides the store's
        default and ``exact=True`` scans exactly anyway."""
        if text is not None or query is None:
            return self._text_search(
                tenant, collection, query, text, limit, filter, text_weight, ef_search, exact
            )

        def queries(pin: Pin) -> F32:
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
        def matrix(pin: Pin) -> F32:
            c = pin.collection
            return validate_queries(c.name, c.dimensions, c.metric, queries)

        return self._search(tenant, collection, matrix, limit, filter, ef_search, exact)

    def _text_search(
        self,
        tenant: str,
        collection: str,
        query: VectorLike | None,
        text: str | None,
        limit: int,
        filter: Mapping[str, Any] | None,
        text_weight: float,
        ef_search: int | None,
        exact: bool,
    ) -> list[Match]:
        def prepare(pin: Pin) -> tuple[SearchInputs, SearchPlan]:
            inputs = validate_search(pin.collection, query, text, text_weight)
            k = check_limit(limit)
            tree: FilterNode | None = parse_filter(filter)
            ef = check_ef_search(ef_search)
            ef = self._ef_search if ef is None else ef
            where = None if tree is None else compile_filter(tree)
            use_index = not check_exact(exact) and pin.index is not None
            matrix = np.empty((0, pin.collection.dimensions), dtype=np.float32)
            return inputs, SearchPlan(matrix, k, where, ef if use_index else None)

        def execute(conn: Conn, pin: Pin, prepared: tuple[SearchInputs, SearchPlan]) -> list[Match]:
            inputs, plan = prepared
            terms = inputs.terms or []
            if inputs.query is None:
                return text_search(conn, self._layout, pin.id, terms, plan.limit, plan.where)
            return hybrid_search(
                conn,
                self._layout,
                self._ranker,
                pin.id,
                pin.collection.metric,
                inputs.query,
                terms,
                inputs.text_weight,
                plan,
            )

        # On the primary (the text statistics are not routed to replicas), run again on a
        # connection found dead, as every read is.
        return self._pins.run(tenant, collection, prepare, execute, via=self._read_primary)

    def _search(
        self,
        tenant: str,
        collection: str,
        queries: Callable[[Pin], F32],
        limit: int,
        filter: Mapping[str, Any] | None,
        ef_search: int | None,
        exact: bool,
    ) -> list[list[Match]]:
        def prepare(pin: Pin) -> SearchPlan:
            matrix = queries(pin)
            k = check_limit(limit)
            tree: FilterNode | None = parse_filter(filter)
            ef = check_ef_search(ef_search)  # checked with or without an index
            ef = self._ef_search if ef is None else ef
            where = None if tree is None else compile_filter(tree)
            use_index = not check_exact(exact) and pin.index is not None
            return SearchPlan(matrix, k, where, ef if use_index else None)

        def execute(conn: Conn, pin: Pin, plan: SearchPlan) -> list[list[Match]]:
            return self._ranker.search(conn, pin.id, pin.collection.metric, plan)

        return self._pins.run(tenant, collection, prepare, execute, via=self._read)

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
        self._router.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self._where})"


if TYPE_CHECKING:

    def _conforms(store: PostgresStore) -> tuple[Store, KeyRegistry]:
        """mypy proves here that the backend satisfies both protocols."""
        return store, store
