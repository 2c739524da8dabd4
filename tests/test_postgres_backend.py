"""PostgreSQL-specific behaviour the shared conformance suite cannot see.

Metadata round-trips exactly (jsonb alone would not), numbers compare exactly beyond 2**53,
large batches take the COPY path with last-wins duplicates, exact searches never use an
index, names never reach SQL, the registry is shared by every store on the database, API keys
live in it, and errors are coded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

import nighdb
from nighdb import Collection
from nighdb.backends.postgres import PostgresStore
from nighdb.backends.postgres import write as postgres_write
from nighdb.backends.postgres.filter import filter_document, numeric_text
from nighdb.keys import new_key

from .pg_server import session_database, url_for
from .pg_statements import ranking_statements

T = "tenant"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return url_for(tmp_path)


@pytest.fixture
def store(url: str) -> Iterator[PostgresStore]:
    s = nighdb.open_store(url)
    assert isinstance(s, PostgresStore)
    yield s
    s.close()


def test_open_store_picks_postgres_for_both_schemes(url: str) -> None:
    for scheme in ("postgresql://", "postgres://"):
        s = nighdb.open_store(scheme + url.split("://", 1)[1])
        assert isinstance(s, PostgresStore)
        assert "password" not in repr(s)
        s.close()


def test_metadata_round_trips_exactly(store: PostgresStore) -> None:
    meta: dict[str, Any] = {
        "int64_max": 2**63 - 1,
        "int64_min": -(2**63),
        "float_integral": 12.0,
        "int_twelve": 12,
        "huge": 1e300,
        "tiny": 5e-324,
        "neg_zero": -0.0,
        "third": 1 / 3,
        "nested": {"b": [1, 2.5, {"c": None}], "a": "é"},
        "unicode": "日本 \" ' \\ \t",
        "z_key_first": True,
        "a_key_last": None,
    }
    store.ensure_collection(T, Collection("c", 2))
    store.upsert(T, "c", [{"id": "x", "vector": [1.0, 2.0], "metadata": meta, "text": "t"}])
    (match,) = store.search(T, "c", [1.0, 2.0])
    # json.dumps shows types (12 vs 12.0), signs of zero, key order: all as stored.
    assert json.dumps(match.metadata) == json.dumps(meta)
    assert match.text == "t"


def test_filter_document_keeps_top_level_scalars_exact() -> None:
    doc = json.loads(filter_document('{"a":1e+300,"b":[1,2],"c":{"d":1},"e":0.5,"f":"x"}'))
    assert doc == {"a": int(1e300), "b": [], "c": {}, "e": 0.5, "f": "x"}
    assert filter_document('{"a":1,"b":"x"}') == '{"a":1,"b":"x"}'
    assert numeric_text(2.0**60) == str(2**60)
    assert numeric_text(0.1) == "0.1"
    assert numeric_text(-0.0) == "0"


def test_numbers_compare_exactly_beyond_float_precision(store: PostgresStore) -> None:
    store.ensure_collection(T, Collection("c", 2))
    values: dict[str, Any] = {
        "i53": 2**53,
        "i53p1": 2**53 + 1,
        "f60": 2.0**60,
        "i60p14": 2**60 + 14,
        "max": 2**63 - 1,
        "f12": 12.0,
        "i12": 12,
    }
    store.upsert(
        T, "c", [{"id": k, "vector": [1.0, 1.0], "metadata": {"v": v}} for k, v in values.items()]
    )

    def ids(spec: dict[str, Any]) -> set[str]:
        return {m.id for m in store.search(T, "c", [1.0, 1.0], limit=100, filter=spec)}

    assert ids({"v": 2**53 + 1}) == {"i53p1"}
    assert ids({"v": float(2**53)}) == {"i53"}
    assert ids({"v": {"gt": 2.0**60}}) == {"i60p14", "max"}
    assert ids({"v": 2**60}) == {"f60"}
    assert ids({"v": 12}) == {"f12", "i12"}
    assert ids({"v": {"gte": 2**63 - 1}}) == {"max"}
    assert ids({"v": {"in": [12.0, 2**53 + 1]}}) == {"f12", "i12", "i53p1"}


def test_large_batches_use_copy_with_last_wins(store: PostgresStore) -> None:
    store.ensure_collection(T, Collection("c", 3, metric="l2"))
    n = postgres_write.COPY_THRESHOLD + 500
    items: list[dict[str, Any]] = [
        {"id": f"i{i:05d}", "vector": [float(i), 0.0, 0.0]} for i in range(n)
    ]
    # Duplicates of the first ids at the end: they count, and they win.
    items += [
        {"id": f"i{i:05d}", "vector": [0.0, 0.0, float(i)], "metadata": {"v": 2}, "text": "2nd"}
        for i in range(10)
    ]
    assert store.upsert(T, "c", items) == n + 10
    assert store.count(T, "c") == n
    (match,) = store.search(T, "c", [0.0, 0.0, 3.0], limit=1)
    assert (match.id, match.metadata, match.text, match.distance) == ("i00003", {"v": 2}, "2nd", 0)
    # A second large batch replaces everything it names (ON CONFLICT through the staging table).
    assert store.upsert(T, "c", [{"id": f"i{i:05d}", "vector": [1.0, 1.0, 1.0]} for i in range(n)])
    assert store.count(T, "c") == n
    assert len(store.search(T, "c", [1.0, 1.0, 1.0], limit=n, filter={"v": 2})) == 0


def test_small_and_copy_paths_write_the_same(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    items = [
        {"id": f"d{i % 37}", "vector": rng.normal(size=4).tolist(), "metadata": {"i": i * 0.5}}
        for i in range(80)
    ]
    for name in ("small", "copy"):
        store.ensure_collection(T, Collection(name, 4))
    store.upsert(T, "small", items)
    monkeypatch.setattr(postgres_write, "COPY_THRESHOLD", 0)
    store.upsert(T, "copy", items)
    q = rng.normal(size=4)
    assert store.search(T, "small", q, limit=100) == store.search(T, "copy", q, limit=100)
    last = {item["id"]: item["metadata"]["i"] for item in items}  # the last occurrence wins
    expected = {i for i, v in last.items() if v >= 30}
    got = store.search(T, "copy", q, limit=100, filter={"i": {"gte": 30}})
    assert {m.id for m in got} == expected


def test_exact_search_never_uses_an_index(
    store: PostgresStore, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.ensure_collection(T, Collection("c", 4))
    rng = np.random.default_rng(1)
    store.upsert(T, "c", [{"id": f"i{i}", "vector": rng.normal(size=4)} for i in range(2000)])
    store.create_index(T, "c")
    seen = ranking_statements(monkeypatch)
    store.search(T, "c", rng.normal(size=4), exact=True)
    store.search(T, "c", rng.normal(size=4))
    monkeypatch.undo()
    (exact_query, exact_params), (index_query, index_params) = seen
    with psycopg.connect(url, autocommit=True) as conn:
        store._configure(conn)
        plans = [
            "\n".join(r[0] for r in conn.execute(sql.SQL("EXPLAIN ") + q, p).fetchall())
            for q, p in ((exact_query, exact_params), (index_query, index_params))
        ]
    assert "hnsw" not in plans[0] and "Index Scan" not in plans[0], plans[0]
    assert "Index Scan using nigh_items_" in plans[1] and "_hnsw" in plans[1], plans[1]


def test_names_never_reach_sql(store: PostgresStore) -> None:
    evil = 'x"; DROP TABLE nigh_collections; --'
    store.ensure_collection(evil, Collection(evil, 2))
    store.upsert(evil, evil, [{"id": evil, "vector": [1, 2], "metadata": {evil: evil}}])
    (m,) = store.search(evil, evil, [1, 2], filter={evil: evil, "id": evil})
    assert m.id == evil
    assert store.list_tenants() == [evil]


def test_stores_on_one_database_share_everything(url: str) -> None:
    with nighdb.open_store(url) as a, nighdb.open_store(url) as b:
        a.ensure_collection(T, Collection("c", 2))
        a.upsert(T, "c", [{"id": "x", "vector": [1, 0]}])
        assert b.count(T, "c") == 1
        # A collection dropped and re-created by another store (node) is noticed at once,
        # although ``b`` cached the old one.
        assert b.drop_collection(T, "c") == 1
        with pytest.raises(nighdb.CollectionNotFoundError):
            a.count(T, "c")
        b.ensure_collection(T, Collection("c", 3))
        with pytest.raises(nighdb.DimensionMismatchError):
            a.upsert(T, "c", [{"id": "x", "vector": [1, 0]}])
        assert a.upsert(T, "c", [{"id": "y", "vector": [1, 0, 0]}]) == 1
        assert b.list_ids(T, "c") == ["y"]


def test_iterators_survive_a_revalidation(url: str) -> None:
    # A validation error against a cached pin is re-checked against a fresh one; a one-shot
    # iterator must still be there for the second look.
    with nighdb.open_store(url) as a, nighdb.open_store(url) as b:
        a.ensure_collection(T, Collection("c", 2))
        a.count(T, "c")  # ``a`` caches the pin
        b.drop_collection(T, "c")
        b.ensure_collection(T, Collection("c", 2))
        b.upsert(T, "c", [{"id": "x", "vector": [1, 0]}])
        with pytest.raises(nighdb.InvalidArgumentError):
            a.delete(T, "c", iter(["x", ""]))  # type: ignore[arg-type]
        assert b.count(T, "c") == 1
        assert a.upsert(T, "c", iter([{"id": "y", "vector": [0, 1]}])) == 1  # type: ignore[arg-type]
        assert [i.id for i in a.fetch(T, "c", iter(["y", "x"]))] == ["y", "x"]  # type: ignore[arg-type]


def test_api_keys_live_in_the_database(url: str) -> None:
    with nighdb.open_store(url) as a, nighdb.open_store(url) as b:
        assert isinstance(a, PostgresStore) and isinstance(b, PostgresStore)
        key, record = new_key(tenant="acme", admin=False)
        a.add_key(record)
        a.add_key(record)  # idempotent
        assert b.find_key(record.id) == record
        assert [r.id for r in b.list_keys()] == [record.id]
        assert b.revoke_key(record.id) and not b.revoke_key(record.id)
        a.add_key(record)  # copying it again does not un-revoke it
        found = a.find_key(record.id)
        assert found is not None and found.revoked
        assert a.find_key("nope") is None
        assert key


def test_unreachable_server_is_unavailable_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(nighdb.StoreUnavailableError) as info:
        nighdb.open_store(f"postgresql://nobody@/db?host={tmp_path}&port=1", timeout=1)
    assert info.value.code == "unavailable"
    assert time.monotonic() - started < 5


def test_bad_url_and_options_are_invalid_arguments(url: str) -> None:
    with pytest.raises(nighdb.InvalidArgumentError):
        nighdb.open_store("postgresql://host/db?nonsense_option=1")
    with pytest.raises(nighdb.InvalidArgumentError):
        nighdb.open_store(url, no_such_option=1)
    with pytest.raises(nighdb.InvalidArgumentError):
        nighdb.open_store(url, pool_min_size=5, pool_max_size=2)
    with pytest.raises(nighdb.InvalidArgumentError):
        nighdb.open_store(url, ef_search=0)


def test_closed_store_refuses_calls(url: str) -> None:
    s = nighdb.open_store(url)
    s.close()
    s.close()  # idempotent
    with pytest.raises(nighdb.InvalidArgumentError):
        s.list_tenants()


def test_role_without_privileges_gets_a_coded_error(tmp_path: Path) -> None:
    db = session_database()
    suffix = tmp_path.name.replace("-", "_").lower()[-20:]
    dbname, role = f"noext_{suffix}", f"weak_{suffix}"
    with psycopg.connect(db.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        weak_url = _with_user_and_db(db.url, role, dbname)
        with pytest.raises(nighdb.StoreUnavailableError) as info:
            nighdb.open_store(weak_url)
        assert "CREATE EXTENSION vector" in str(info.value)
    finally:
        with psycopg.connect(db.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
            admin.execute(f'DROP ROLE "{role}"')


def _with_user_and_db(url: str, user: str, dbname: str) -> str:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{host}", path=f"/{dbname}"))
