"""HNSW indexes: opt-in per collection, and filtered searches still return min(limit, matches).

Recall is measured by the benchmarks; here only what is guaranteed: the count, the order by
(distance, id) among what is returned, exactness when asked for, and the index's lifecycle.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

import nighdb
from nighdb import Collection
from nighdb.backends.postgres import HnswIndex, PostgresStore
from nighdb.backends.postgres.search import SearchPlan

from .pg_server import url_for
from .pg_statements import ranking_statements

T = "t"
N = 3000
DIMS = 8


@pytest.fixture(scope="module")
def indexed_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return url_for(tmp_path_factory.mktemp("hnsw"))


@pytest.fixture(scope="module")
def indexed(indexed_url: str) -> Iterator[PostgresStore]:
    """One indexed collection ``c`` (and its unindexed twin ``plain``), built once."""
    store = nighdb.open_store(indexed_url)
    assert isinstance(store, PostgresStore)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(N, DIMS)).astype(np.float32)
    items = [
        {
            "id": f"i{i:05d}",
            "vector": vectors[i],
            # "rare" selects 0.1% of the items, "few" exactly 5, "tag" 10%.
            "metadata": {
                "tag": i % 10,
                "rare": i % 1000 == 7,
                "few": i in (1, 500, 999, 1500, 2999),
            },
        }
        for i in range(N)
    ]
    for name in ("c", "plain"):
        store.ensure_collection(T, Collection(name, DIMS, metric="l2"))
        store.upsert(T, name, items)
    assert store.create_index(T, "c", m=8, ef_construction=32) == HnswIndex(8, 32)
    yield store
    store.close()


FILTERS: list[dict[str, Any] | None] = [
    None,
    {"tag": 3},
    {"rare": True},
    {"few": True},
    {"tag": {"in": [1, 2]}, "rare": False},
    {"tag": 99},
]


def _expected(store: PostgresStore, spec: dict[str, Any] | None) -> int:
    return (
        len(store.list_ids(T, "plain"))
        if spec is None
        else len(store.search(T, "plain", [0.0] * DIMS, limit=10**5, filter=spec))
    )


@pytest.mark.parametrize("spec", FILTERS)
@pytest.mark.parametrize("limit", [1, 10, 100])
def test_filtered_indexed_search_returns_min_of_limit_and_matches(
    indexed: PostgresStore, spec: dict[str, Any] | None, limit: int
) -> None:
    rng = np.random.default_rng(limit)
    matches = _expected(indexed, spec)
    for ef_search in (None, 1):
        got = indexed.search(
            T, "c", rng.normal(size=DIMS), limit=limit, filter=spec, ef_search=ef_search
        )
        assert len(got) == min(limit, matches)
        assert [(m.distance, m.id) for m in got] == sorted((m.distance, m.id) for m in got)
        assert len({m.id for m in got}) == len(got)


def test_search_many_on_an_index_keeps_the_count(indexed: PostgresStore) -> None:
    queries = np.random.default_rng(9).normal(size=(5, DIMS))
    for spec in FILTERS:
        matches = _expected(indexed, spec)
        for got in indexed.search_many(T, "c", queries, limit=20, filter=spec, ef_search=4):
            assert len(got) == min(20, matches)


def test_exact_fallback_when_the_index_runs_short(indexed: PostgresStore, indexed_url: str) -> None:
    # Without iterative scans (pgvector < 0.8) the index yields at most ef_search rows before
    # the filter: the store must notice and scan exactly. One connection, scans turned off.
    with PostgresStore(indexed_url, pool_max_size=1) as one:
        one._ranker._iterative = False  # as on pgvector < 0.8
        q = np.random.default_rng(5).normal(size=DIMS)
        got = one.search(T, "c", q, limit=50, filter={"tag": 4}, ef_search=10)
        with one._pool.connection() as conn:
            assert _setting(conn, "hnsw.iterative_scan") == "off"  # the fallback did the work
    assert got == indexed.search(T, "plain", q, limit=50, filter={"tag": 4})


def _settings_sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Record each search's local settings: (ef_search, iterative scans set)."""
    seen: list[tuple[str, bool]] = []
    original = psycopg.Connection.execute

    def spy(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        text = query.as_string(self) if isinstance(query, sql.Composable) else str(query)
        if "set_config('hnsw.ef_search'" in text:
            assert text.count(", true)") == text.count("set_config(")  # local to the search
            ef = text.split("'hnsw.ef_search', '")[1].split("'")[0]
            seen.append((ef, "'hnsw.iterative_scan', 'relaxed_order'" in text))
        return original(self, query, params, **kw)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)
    return seen


def _setting(conn: Any, name: str) -> str:
    return str(conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0])


def test_each_search_gets_its_ef_search(indexed_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Contract §17: each indexed search sets its ef_search (and iterative scans) with SET
    # LOCAL in its own transaction, so the pooled session keeps the server's defaults and a
    # transaction-mode pooler may hand it to anyone.
    settings = _settings_sent(monkeypatch)
    q = np.random.default_rng(8).normal(size=DIMS)
    with PostgresStore(indexed_url, pool_max_size=1, ef_search=25) as one:
        defaults = ("40", "off")  # pgvector's own, once a search has loaded it
        for asked, limit, expected in [
            (None, 5, 25),
            (7, 5, 7),
            (7, 5, 7),
            (3, 60, 60),
            (None, 5, 25),
        ]:
            got = one.search(T, "c", q, limit=limit, ef_search=asked)
            assert len(got) == limit
            assert settings.pop() == (str(expected), True)
            with one._pool.connection() as conn:
                left = (_setting(conn, "hnsw.ef_search"), _setting(conn, "hnsw.iterative_scan"))
            assert left == defaults
        # A filtered search explores FILTERED_EF_FACTOR times more, up to pgvector's 1000.
        for asked, expected in [(7, 70), (200, 1000)]:
            one.search(T, "c", q, limit=5, filter={"tag": 3}, ef_search=asked)
            assert settings.pop() == (str(expected), True)
        assert not settings
        # An exact search leaves the session alone and ignores the index.
        assert one.search(T, "c", q, limit=5, exact=True) == one.search(T, "plain", q, limit=5)


def test_a_failed_indexed_search_leaves_its_connection_idle(tmp_path: Path) -> None:
    # BEGIN, the settings, the search and COMMIT go as one pipeline and are read after it:
    # a search of a table that is not there fails at the pipeline's end, and the search
    # itself must end its failed transaction, leaving the connection idle.
    url = url_for(tmp_path)
    q = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    with PostgresStore(url) as store:
        with store._pool.connection() as conn:  # checked before the pool could reset it
            plan = SearchPlan(q, 1, None, ef_search=40)
            with pytest.raises(psycopg.errors.UndefinedTable):
                store._ranker.search(conn, 10**6, "cosine", plan)
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        # Through the store: a collection dropped behind its pin fails as not found, and
        # its one pooled connection serves the next search.
        with PostgresStore(url, pool_max_size=1) as one:
            one.ensure_collection(T, Collection("c", 3))
            one.upsert(T, "c", [{"id": "a", "vector": q[0]}])
            one.create_index(T, "c")
            store.drop_collection(T, "c")
            with pytest.raises(nighdb.CollectionNotFoundError):
                one.search(T, "c", q[0], limit=1)
            one.ensure_collection(T, Collection("c", 3))
            one.create_index(T, "c")
            one.upsert(T, "c", [{"id": "b", "vector": q[0]}])
            assert [m.id for m in one.search(T, "c", q[0], limit=1)] == ["b"]


def test_exact_true_ignores_the_index(indexed: PostgresStore) -> None:
    q = np.random.default_rng(6).normal(size=DIMS)
    assert indexed.search(T, "c", q, limit=30, exact=True) == indexed.search(
        T, "plain", q, limit=30
    )


def test_index_lifecycle(tmp_path: Path) -> None:
    with nighdb.open_store(url_for(tmp_path)) as store:
        assert isinstance(store, PostgresStore)
        with pytest.raises(nighdb.CollectionNotFoundError):
            store.create_index(T, "missing")
        store.ensure_collection(T, Collection("c", 3))
        assert store.describe_index(T, "c") is None
        assert not store.drop_index(T, "c")
        for bad in ({"m": 1}, {"m": 101}, {"ef_construction": 3}, {"m": 40, "ef_construction": 64}):
            with pytest.raises(nighdb.InvalidArgumentError):
                store.create_index(T, "c", **bad)
        assert store.create_index(T, "c") == HnswIndex(16, 64)
        assert store.create_index(T, "c", m=4, ef_construction=8) == HnswIndex(4, 8)
        assert store.describe_index(T, "c") == HnswIndex(4, 8)
        # Writes after the build are indexed too.
        store.upsert(T, "c", [{"id": "new", "vector": [1.0, 2.0, 3.0]}])
        assert [m.id for m in store.search(T, "c", [1.0, 2.0, 3.0], limit=1)] == ["new"]
        with pytest.raises(nighdb.InvalidArgumentError):
            store.search(T, "c", [1.0, 2.0, 3.0], ef_search=0)
        assert store.drop_index(T, "c")
        assert store.describe_index(T, "c") is None
        # A dropped and re-created collection starts without an index.
        store.create_index(T, "c")
        store.drop_collection(T, "c")
        store.ensure_collection(T, Collection("c", 3))
        assert store.describe_index(T, "c") is None

        store.ensure_collection(T, Collection("wide", 4001))  # halfvec's limit is 4,000
        with pytest.raises(nighdb.InvalidArgumentError):
            store.create_index(T, "wide")


def test_many_exact_queries_stream_the_collection_once(
    indexed: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nighdb.backends.postgres import scan
    from nighdb.backends.postgres import search as postgres_search

    calls: list[int] = []
    real = scan.scan_many

    def spy(*args: Any) -> Any:
        calls.append(len(args[4]))  # the queries
        return real(*args)

    monkeypatch.setattr(postgres_search, "scan_many", spy)
    queries = np.random.default_rng(11).normal(size=(scan.STREAM_MIN_QUERIES, DIMS))
    for spec in (None, {"tag": 3}):
        many = indexed.search_many(T, "plain", queries, limit=15, filter=spec)
        assert many == [indexed.search(T, "plain", q, limit=15, filter=spec) for q in queries]
    assert calls == [scan.STREAM_MIN_QUERIES] * 2  # singles scan on the server


def test_a_3072_dimension_collection_is_indexed_as_halfvec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Contract §17: past pgvector's 2,000-dimension limit for vector, the index holds halfvec;
    # searches walk it and re-rank in float64, so distances are the exact ones.
    dims = 3072
    rng = np.random.default_rng(30)
    vectors = rng.normal(size=(300, dims)).astype(np.float32)
    url = url_for(tmp_path)
    with nighdb.open_store(url) as store:
        assert isinstance(store, PostgresStore)
        store.ensure_collection(T, Collection("wide", dims))
        store.upsert(T, "wide", [{"id": f"w{i:03d}", "vector": v} for i, v in enumerate(vectors)])
        assert store.create_index(T, "wide") == HnswIndex(16, 64)
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() AND indexname LIKE '%hnsw'"
            )
            indexdef = str(row.fetchone())
        assert "halfvec(3072)" in indexdef and "halfvec_cosine_ops" in indexdef, indexdef
        seen = ranking_statements(monkeypatch)
        for i in (0, 123, 299):
            got = store.search(T, "wide", vectors[i], limit=5)
            exact = {m.id: m.distance for m in store.search(T, "wide", vectors[i], exact=True)}
            assert got[0].id == f"w{i:03d}" and len(got) == 5
            for m in got:  # float64 distances, whichever path found the item
                if m.id in exact:
                    assert m.distance == exact[m.id]
        monkeypatch.undo()
        with psycopg.connect(url) as conn:
            store._configure(conn)  # the vector codec
            # 300 rows are cheaper to scan: ask whether the index *can* serve the statement.
            conn.execute("SET enable_seqscan = off")
            query, params = seen[0]
            plan = "\n".join(
                str(r[0]) for r in conn.execute(sql.SQL("EXPLAIN ") + query, params).fetchall()
            )
        assert "Index Scan using nigh_items_" in plan and "_hnsw" in plan, plan[:400]
