"""Opening a version-1 PostgreSQL store upgrades it in place to the current layout.

The version-1 database is built here by the DDL version 1 of nighdb ran (written out, not
taken from the code, which no longer has it), with rows of every kind in it; then a store
opens it, as an upgraded nighdb would.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import psycopg

import nighdb
from nighdb.backends.postgres.schema import SCHEMA_VERSION
from nighdb.backends.postgres.upgrade import STEPS

from .pg_server import url_for

T = "acme"

_V1 = [
    "CREATE TABLE nigh_meta (key text PRIMARY KEY, value text NOT NULL)",
    """CREATE TABLE nigh_collections (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL,
        dimensions integer NOT NULL, embedding_model text NOT NULL, metric text NOT NULL,
        hnsw_m integer, hnsw_ef_construction integer,
        created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (tenant, name))""",
    """CREATE TABLE nigh_api_keys (
        id text PRIMARY KEY, key_hash text NOT NULL, tenant text, admin boolean NOT NULL,
        created_at double precision NOT NULL, revoked boolean NOT NULL DEFAULT false)""",
    "INSERT INTO nigh_meta VALUES ('schema_version', '1')",
    "INSERT INTO nigh_collections (tenant, name, dimensions, embedding_model, metric, hnsw_m, "
    "hnsw_ef_construction) VALUES ('acme', 'docs', 2, '', 'l2', 16, 64), "
    "('acme', 'empty', 3, '', 'cosine', NULL, NULL)",
    """CREATE TABLE nigh_items_1 (
        id text COLLATE "C" PRIMARY KEY, embedding public.vector(2) NOT NULL,
        metadata jsonb NOT NULL, metadata_json text NOT NULL, text text NOT NULL)""",
    """CREATE TABLE nigh_items_2 (
        id text COLLATE "C" PRIMARY KEY, embedding public.vector(3) NOT NULL,
        metadata jsonb NOT NULL, metadata_json text NOT NULL, text text NOT NULL)""",
    """INSERT INTO nigh_items_1
        SELECT 'item-' || lpad(i::text, 3, '0'), ('[' || i || ',1]')::public.vector,
               ('{"n":' || i || ',"lang":"' || CASE WHEN i % 2 = 0 THEN 'en' ELSE 'de' END
                || '"}')::jsonb,
               '{"lang":"' || CASE WHEN i % 2 = 0 THEN 'en' ELSE 'de' END || '","n":' || i
                || '}', 'text ' || i
        FROM generate_series(0, 99) AS i""",
    # Version 1's HNSW index, as create_index made it: the upgrade rewrites the rows under it.
    "CREATE INDEX nigh_items_1_hnsw ON nigh_items_1 USING hnsw (embedding public.vector_l2_ops) "
    "WITH (m = 16, ef_construction = 64)",
]


def _version_one(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in _V1:
            conn.execute(statement)


def _version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT value FROM nigh_meta WHERE key = 'schema_version'").fetchone()
    assert row is not None
    return str(row[0])


def _indexes(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        ).fetchall()
    return {str(r[0]) for r in rows}


def test_a_version_one_store_is_upgraded_and_keeps_its_items(tmp_path: Path) -> None:
    url = url_for(tmp_path)
    _version_one(url)
    assert _version(url) == "1"
    with nighdb.open_store(url) as store:
        assert _version(url) == str(SCHEMA_VERSION)
        for n in (1, 2):
            names = {f"nigh_items_{n}_{suffix}" for suffix in ("pkey", "order", "meta")}
            assert names <= _indexes(url)
        assert "nigh_items_1_hnsw" in _indexes(url)
        assert store.count(T, "docs") == 100
        assert store.count(T, "docs", filter={"lang": "en"}) == 50
        assert store.count(T, "docs", filter={"n": {"in": [3, 4, 500]}}) == 2
        assert store.list_ids(T, "docs", after="item-097", limit=5) == ["item-098", "item-099"]
        (item,) = store.fetch(T, "docs", ["item-007"])
        assert item.metadata == {"lang": "de", "n": 7} and item.text == "text 7"
        np.testing.assert_array_equal(item.vector, np.array([7.0, 1.0], dtype=np.float32))
        assert store.describe_index(T, "docs") is not None
        for exact in (True, False):  # the exact scan, and the kept HNSW index
            found = store.search(T, "docs", [7.2, 1.0], limit=2, exact=exact)
            assert [m.id for m in found] == ["item-007", "item-008"]
        # Writes find the upgraded key: a replacement stays one row; a long id now fits.
        store.upsert(T, "docs", [{"id": "item-007", "vector": [0.0, 0.0]}])
        store.upsert(T, "docs", [{"id": "\U0001f3af" * 1024, "vector": [1.0, 0.0]}])
        assert store.count(T, "docs") == 101
        assert store.describe_collection(T, "empty") is not None
        assert store.count(T, "empty") == 0
    with nighdb.open_store(url) as again:  # already current: opens without change
        assert again.count(T, "docs") == 101


def test_concurrent_openers_upgrade_once(tmp_path: Path) -> None:
    url = url_for(tmp_path)
    _version_one(url)
    errors: list[BaseException] = []
    counts: list[int] = []

    def open_and_count() -> None:
        try:
            with nighdb.open_store(url) as store:
                counts.append(store.count(T, "docs"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_count) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and counts == [100] * 4
    assert _version(url) == str(SCHEMA_VERSION)


def test_the_steps_end_at_the_current_version() -> None:
    targets = [target for target, _ in STEPS]
    assert targets == sorted(set(targets)) and targets[-1] == SCHEMA_VERSION
