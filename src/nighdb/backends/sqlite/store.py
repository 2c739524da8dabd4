"""The embedded backend's ``Store``: one SQLite file (WAL), its transactions and methods.

SQLite is the source of truth. Every method checks its arguments, opens a transaction on
this thread's connection and reads the collection's pin (id, dimensions, metric, version)
inside it (``transactions``); the reads of stored items are ``item_reads``', the writes
``item_writes``'. Writes bump the version, which the caches compare. Searching runs in
``search`` (numpy over cached or streamed vectors), the API keys in ``keys``, the tables and
driver errors in ``schema``, and filters compile to SQL in ``filter``.

Concurrency: one connection per thread; writers take the lock up front (``BEGIN
IMMEDIATE``) and queue behind ``busy_timeout``; WAL readers never block.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import apsw
import numpy as np

from ...errors import InvalidArgumentError
from ...filters import parse_filter
from ...indexes import check_ef_search, check_exact
from ...keys import KeyRecord, KeyRegistry
from ...models import F32, Collection, Match, VectorLike
from ...store import ClosingContext, Store
from ...validation import (
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
from . import keys
from .ann_methods import IndexMethods
from .ann_search import DEFAULT_EXACT_BELOW, search_with_graph
from .ann_state import AnnIndexes, read_record
from .cache import DEFAULT_CACHE_BYTES, BlockCache
from .filter import compile_filter
from .item_reads import ItemReads
from .item_writes import ItemWrites
from .quantized_file import path_for
from .schema import (
    PIN_COLUMNS,
    Pin,
    count_rows,
    create_schema,
    items_ddl,
    items_table,
    parse_sqlite_url,
    require_store,
    text_tables,
    translate_errors,
)
from .search import CACHE_PRECISIONS, search_collection
from .textsearch import hybrid_search, text_search

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "extra": "EXTRA"}


class SQLiteStore(ItemWrites, ItemReads, IndexMethods, ClosingContext):
    """``Store`` over one SQLite file. Thread-safe; several processes may share the file.

    ``create`` (default true) creates a missing file, its folders and the tables; with
    ``create=False`` the file must already hold a nighdb store, else ``InvalidArgumentError``
    naming the path, and nothing is created. ``exact_below``: a search of an indexed
    collection whose filter passes fewer items than this is exact (docs/indexes.md). The
    index calls come from ``IndexMethods`` (``ann_methods``).
    """

    def __init__(
        self,
        url: str,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        busy_timeout: float = 30.0,
        synchronous: str = "full",
        create: bool = True,
        cache_precision: str = "auto",
        exact_below: int = DEFAULT_EXACT_BELOW,
    ) -> None:
        self.path = parse_sqlite_url(url)
        if cache_precision not in CACHE_PRECISIONS:
            raise InvalidArgumentError(
                f"cache_precision must be one of {', '.join(map(repr, CACHE_PRECISIONS))}, "
                f"not {cache_precision!r}"
            )
        self._precision = cache_precision
        if isinstance(exact_below, bool) or not isinstance(exact_below, int) or exact_below < 0:
            raise InvalidArgumentError("exact_below must be an integer >= 0")
        self._exact_below = exact_below
        self._ann = AnnIndexes(self.path)
        self._create = bool(create)
        if synchronous.lower() not in _SYNCHRONOUS:
            raise InvalidArgumentError("synchronous must be 'full', 'normal' or 'extra'")
        self._synchronous = _SYNCHRONOUS[synchronous.lower()]
        self._busy_ms = int(busy_timeout * 1000)
        self._cache = BlockCache(cache_bytes)
        self._local = threading.local()
        self._connections: list[apsw.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        with translate_errors(self.path):
            if not self._create:
                require_store(self.path)
            create_schema(self._conn())

    # -- collections ------------------------------------------------------------------

    def ensure_collection(self, tenant: str, collection: Collection) -> Collection:
        tenant = check_tenant(tenant)
        wanted = check_collection(collection)
        with self._transaction(write=False) as conn:
            pin = self._pin(conn, tenant, wanted.name)
        if pin is not None:
            return check_compatible(pin.collection, wanted)
        with self._transaction(write=True) as conn:
            # Re-check under the write lock: a concurrent ensure may have created it.
            pin = self._pin(conn, tenant, wanted.name)
            if pin is not None:
                return check_compatible(pin.collection, wanted)
            wanted = check_new_collection(wanted)
            conn.execute(
                "INSERT INTO nigh_collections (tenant, name, dimensions, embedding_model, "
                "metric, text_analyzer) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    tenant,
                    wanted.name,
                    wanted.dimensions,
                    wanted.embedding_model,
                    wanted.metric,
                    wanted.text_analyzer,
                ),
            )
            for ddl in items_ddl(conn.last_insert_rowid()):
                conn.execute(ddl)
        return wanted

    def describe_collection(self, tenant: str, name: str) -> Collection | None:
        tenant = check_tenant(tenant)
        name = check_collection_name(name)
        with self._transaction(write=False) as conn:
            pin = self._pin(conn, tenant, name)
        return None if pin is None else pin.collection

    def list_collections(self, tenant: str) -> list[Collection]:
        tenant = check_tenant(tenant)
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT {PIN_COLUMNS} FROM nigh_collections WHERE tenant = ? ORDER BY name",
                (tenant,),
            ).fetchall()
        return [Pin(r).collection for r in rows]

    def list_tenants(self) -> list[str]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT DISTINCT tenant FROM nigh_collections ORDER BY tenant"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def drop_collection(self, tenant: str, name: str) -> int:
        tenant = check_tenant(tenant)
        name = check_collection_name(name)
        with self._transaction(write=True) as conn:
            pin = self._pin(conn, tenant, name)
            if pin is None:
                return 0
            table = items_table(pin.id)
            removed = count_rows(conn, table)
            conn.execute(f"DROP TABLE {table}")
            for text_table in text_tables(pin.id):
                conn.execute(f"DROP TABLE {text_table}")
            conn.execute("DELETE FROM nigh_collections WHERE id = ?", (pin.id,))
        self._cache.discard_group(pin.id)
        # Ids are never reused, so a leftover copy could never be loaded; it only takes space.
        with contextlib.suppress(OSError):
            path_for(self.path, pin.id).unlink()
        self._ann.remove(None, pin.id)  # its nigh_indexes row went with the collection's
        return removed

    def count(
        self, tenant: str, collection: str, *, filter: Mapping[str, Any] | None = None
    ) -> int:
        def body(conn: apsw.Connection, pin: Pin) -> int:
            tree = parse_filter(filter)
            if tree is None:
                return count_rows(conn, items_table(pin.id))
            where, params = compile_filter(tree)
            row = conn.execute(
                f"SELECT count(*) FROM {items_table(pin.id)} WHERE {where}", params
            ).fetchone()
            return 0 if row is None else int(row[0])

        return self._read_collection(tenant, collection, body)

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
        """Contract §5, §14 and §15: a vector search goes through the collection's HNSW index
        when it has one and ``exact`` is false (``ann_search``), else the exact scan. Text
        and hybrid searches rank exactly here, index or not (``textsearch``)."""
        if text is None and query is not None:

            def prepare(pin: Pin) -> F32:
                c = pin.collection
                return validate_query(c.name, c.dimensions, c.metric, query)[np.newaxis, :]

            return self._search(tenant, collection, prepare, limit, filter, ef_search, exact)[0]

        def body(conn: apsw.Connection, pin: Pin) -> list[Match]:
            inputs = validate_search(pin.collection, query, text, text_weight)
            k = check_limit(limit)
            tree = parse_filter(filter)
            check_ef_search(ef_search)
            check_exact(exact)
            if inputs.query is None:
                return text_search(conn, pin, inputs.terms or [], k, tree)
            return hybrid_search(
                conn,
                self._cache,
                pin,
                inputs.query,
                inputs.terms or [],
                inputs.text_weight,
                k,
                tree,
                precision=self._precision,
                db_path=self.path,
            )

        return self._read_collection(tenant, collection, body)

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
        def prepare(pin: Pin) -> F32:
            c = pin.collection
            return validate_queries(c.name, c.dimensions, c.metric, queries)

        return self._search(tenant, collection, prepare, limit, filter, ef_search, exact)

    def _search(
        self,
        tenant: str,
        collection: str,
        prepare: Callable[[Pin], F32],
        limit: int,
        filter: Mapping[str, Any] | None,
        ef_search: object,
        exact: object,
    ) -> list[list[Match]]:
        saving: list[int] = []

        def body(conn: apsw.Connection, pin: Pin) -> list[list[Match]]:
            matrix = prepare(pin)
            k = check_limit(limit)
            tree = parse_filter(filter)
            ef = check_ef_search(ef_search)
            if matrix.shape[0] == 0:
                check_exact(exact)
                return []
            record = None if check_exact(exact) else read_record(conn, pin.id)

            def exactly(queries: F32) -> list[list[Match]]:
                return search_collection(
                    conn,
                    self._cache,
                    pin,
                    queries,
                    k,
                    tree,
                    precision=self._precision,
                    db_path=self.path,
                )

            if record is None:
                return exactly(matrix)
            graph = self._ann.current_graph(conn, pin, record)
            saving.append(pin.id)
            return search_with_graph(
                conn, self._cache, pin, graph, matrix, k, tree,
                ef_search=ef, exact_below=self._exact_below, exact=exactly,
            )  # fmt: skip

        results = self._read_collection(tenant, collection, body)
        for collection_id in saving:
            self._save_index(collection_id)
        return results

    # -- API keys (nighdb.keys.KeyRegistry) ------------------------------------------

    def add_key(self, record: KeyRecord) -> None:
        with self._transaction(write=True) as conn:
            keys.add_key(conn, record)

    def find_key(self, key_id: str) -> KeyRecord | None:
        with self._transaction(write=False) as conn:
            return keys.find_key(conn, key_id)

    def list_keys(self) -> list[KeyRecord]:
        with self._transaction(write=False) as conn:
            return keys.list_keys(conn)

    def revoke_key(self, key_id: str) -> bool:
        with self._transaction(write=True) as conn:
            return keys.revoke_key(conn, key_id)

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(apsw.Error):
                conn.close()
        self._cache.clear()
        self._ann.clear()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


if TYPE_CHECKING:

    def _conforms(store: SQLiteStore) -> tuple[Store, KeyRegistry]:
        """mypy proves here that the backend satisfies both protocols."""
        return store, store
