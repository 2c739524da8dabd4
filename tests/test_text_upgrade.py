"""Opening a version-1 store (before text search) upgrades it in place on both backends: the
analyzer pin and the statistics appear, every collection's postings are backfilled from the
texts already stored, and text search then gives the scores of a store created new.

A version-1 SQLite store (and a version-2 PostgreSQL one) is made from a new one by undoing
exactly what text search added (its tables, its columns, the version), which is the whole
difference between the layouts; a version-1 PostgreSQL store is written by version 1's DDL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import apsw
import psycopg
import pytest
from psycopg import sql

import nighdb
from nighdb import Collection
from nighdb.backends.postgres import schema as postgres_schema
from nighdb.backends.postgres import textmerges, textsegments
from nighdb.backends.postgres import upgrade as postgres_upgrade
from nighdb.backends.sqlite.schema import SCHEMA_VERSION, text_tables
from nighdb.backends.sqlite.textsegments import Dictionary
from nighdb.text import analyze

from . import pg_server
from .reference_text import bm25
from .test_postgres_upgrade import _version_one

TEXTS = {"a": "red fox", "b": "Red red DOG", "c": "", "d": "a fox and a dog"}


def _fill(store: nighdb.Store) -> None:
    for name in ("one", "two"):
        store.ensure_collection("t", Collection(name, 2))
        store.upsert(
            "t",
            name,
            [
                {"id": i, "vector": [1.0, float(n)], "text": t}
                for n, (i, t) in enumerate(TEXTS.items())
            ],
        )


def _check(store: nighdb.Store) -> None:
    for name in ("one", "two"):
        assert store.describe_collection("t", name) == Collection(name, 2)
        got = store.search("t", name, text="red dog fox")
        want = bm25(TEXTS, "red dog fox", lambda _: True)
        assert [m.id for m in got] == [i for i, _ in want]
        assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
    # The upgraded store keeps its postings exact from then on.
    store.delete("t", "one", ["a"])
    texts = {k: v for k, v in TEXTS.items() if k != "a"}
    got = store.search("t", "one", text="red")
    assert [m.score for m in got] == pytest.approx(
        [s for _, s in bm25(texts, "red", lambda _: True)], rel=1e-9
    )


def _upgraded_sqlite(
    path: Path, version: int, make_old: Callable[[apsw.Connection, list[int]], None]
) -> apsw.Connection:
    """A store filled by this code, turned into a version-``version`` one by ``make_old``
    (given the collection ids, in one transaction), opened again (which upgrades it) and
    checked; a connection to the file after, at the newest version."""
    with nighdb.open_store(f"sqlite:///{path}") as store:
        _fill(store)
    conn = apsw.Connection(str(path))
    with conn:
        make_old(conn, [int(r[0]) for r in conn.execute("SELECT id FROM nigh_collections")])
        conn.execute("UPDATE nigh_meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    conn.close()
    with nighdb.open_store(f"sqlite:///{path}") as store:
        _check(store)
    conn = apsw.Connection(str(path))
    row = conn.execute("SELECT value FROM nigh_meta WHERE key = 'schema_version'").fetchone()
    assert row is not None and int(str(row[0])) == SCHEMA_VERSION
    return conn


def _count(conn: apsw.Connection, query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_sqlite_version_1_is_upgraded(tmp_path: Path) -> None:
    def version_1(conn: apsw.Connection, ids: list[int]) -> None:
        for cid in ids:
            for table in text_tables(cid):
                conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE nigh_collections DROP COLUMN text_analyzer")
        conn.execute("ALTER TABLE nigh_collections DROP COLUMN text_length")

    _upgraded_sqlite(tmp_path / "old.db", 1, version_1).close()


def test_sqlite_version_3_postings_become_segments(tmp_path: Path) -> None:
    """Version 3 kept one row per (term, item) in ``nigh_postings_<id>``: opening it builds
    the segments (version 4) and drops that table; search gives the same scores."""

    def version_3(conn: apsw.Connection, ids: list[int]) -> None:
        for cid in ids:
            for table in text_tables(cid):
                conn.execute(f"DROP TABLE {table}")
            # Version 3's postings table, filled as version 3 wrote it.
            conn.execute(
                f"CREATE TABLE nigh_postings_{cid} (term TEXT NOT NULL, item INTEGER NOT NULL, "
                "tf INTEGER NOT NULL, length INTEGER NOT NULL, PRIMARY KEY (term, item)) "
                "WITHOUT ROWID"
            )
            for rowid, text in conn.execute(f"SELECT rowid, text FROM nigh_items_{cid}"):
                analyzed = analyze(str(text), "plain")
                conn.executemany(
                    f"INSERT INTO nigh_postings_{cid} VALUES (?, ?, ?, ?)",
                    [(t, rowid, tf, analyzed.length) for t, tf in analyzed.terms.items()],
                )

    conn = _upgraded_sqlite(tmp_path / "v3.db", 3, version_3)
    left = "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'nigh_postings_%'"
    assert _count(conn, left) == 0
    assert _count(conn, "SELECT count(*) FROM nigh_textseg_1") >= 1
    conn.close()


def test_sqlite_version_4_dictionary_rows_go(tmp_path: Path) -> None:
    """Version 4 kept each segment's dictionary as rows (``nigh_textterm_<id>``) as well as in
    its blob, and no salt: opening it drops the rows, salts every segment differently, and
    search reads the blobs' dictionaries with the same scores."""

    def version_4(conn: apsw.Connection, ids: list[int]) -> None:
        for cid in ids:
            conn.execute(
                f"CREATE TABLE nigh_textterm_{cid} (term TEXT NOT NULL, seg INTEGER NOT NULL, "
                "start INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (term, seg)) "
                "WITHOUT ROWID"
            )
            for seg, blob in conn.execute(f"SELECT seg, terms FROM nigh_textseg_{cid}").fetchall():
                dictionary = Dictionary(cast(bytes, blob))
                starts = dictionary.starts().tolist()
                conn.executemany(
                    f"INSERT INTO nigh_textterm_{cid} VALUES (?, ?, ?, ?)",
                    [
                        (term, seg, starts[j], starts[j + 1] - starts[j])
                        for j, term in enumerate(dictionary.vocabulary())
                    ],
                )
            conn.execute(f"ALTER TABLE nigh_textseg_{cid} DROP COLUMN salt")

    conn = _upgraded_sqlite(tmp_path / "v4.db", 4, version_4)
    assert SCHEMA_VERSION >= 5
    left = "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'nigh_textterm_%'"
    assert _count(conn, left) == 0
    salts = [
        r[0]
        for r in conn.execute(
            "SELECT salt FROM nigh_textseg_1 UNION ALL SELECT salt FROM nigh_textseg_2"
        )
    ]
    assert len(salts) >= 2 and len(set(salts)) == len(salts) and all(int(str(x)) > 0 for x in salts)
    conn.close()


def test_postgres_version_1_is_upgraded(tmp_path: Path) -> None:
    """Version 1 as nighdb 1 wrote it (``test_postgres_upgrade``'s DDL): both steps run."""
    url = pg_server.url_for(tmp_path)
    _version_one(url)
    texts = {f"item-{i:03d}": f"text {i}" for i in range(100)}
    with nighdb.open_store(url) as store:
        got = store.search("acme", "docs", text="TEXT 7", limit=3)
        want = bm25(texts, "text 7", lambda _: True)[:3]
        assert [m.id for m in got] == [i for i, _ in want]
        assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
        assert store.search("acme", "empty", text="text") == []


_POSTGRES_TEXT_TABLES = ("nigh_tpost_{}", "nigh_tsegs_{}", "nigh_ttomb_{}")


def _drop_text_tables(conn: psycopg.Connection[Any]) -> list[int]:
    """Drop every collection's version-4 text tables and ``text_segment``; their ids."""
    ids = [int(r[0]) for r in conn.execute("SELECT id FROM nigh_collections").fetchall()]
    for cid in ids:
        for name in _POSTGRES_TEXT_TABLES:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name.format(cid))))
        for reader in (f"nigh_tread_{cid}", f"nigh_tfetch_{cid}"):
            conn.execute(sql.SQL("DROP FUNCTION {}").format(sql.Identifier(reader)))
    conn.execute("ALTER TABLE nigh_collections DROP COLUMN text_segment")
    return ids


def test_postgres_version_2_is_upgraded(tmp_path: Path) -> None:
    """Version 2 (hash-keyed items, without text search): the text steps run."""
    url = pg_server.url_for(tmp_path)
    with nighdb.open_store(url) as store:
        _fill(store)
    with psycopg.connect(url, autocommit=True) as conn:
        _drop_text_tables(conn)
        for column in ("text_analyzer", "text_items", "text_length"):
            conn.execute(
                sql.SQL("ALTER TABLE nigh_collections DROP COLUMN {}").format(
                    sql.Identifier(column)
                )
            )
        conn.execute("UPDATE nigh_meta SET value = '2' WHERE key = 'schema_version'")
    with nighdb.open_store(url) as store:
        _check(store)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT value FROM nigh_meta WHERE key = 'schema_version'").fetchone()
    assert row is not None and int(str(row[0])) >= 3


@pytest.mark.parametrize(("backfill_items", "merge_factor"), [(10_000, 8), (3, 8), (1, 2)])
def test_postgres_version_3_postings_become_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backfill_items: int, merge_factor: int
) -> None:
    """Version 3 (one row per posting in ``nigh_postings_<id>``): step 4 drops that table and
    builds the segments from the stored texts (a segment per ``backfill_items``, merged as
    any write's: with a merge factor of 2, a merge takes an id between two chunks), exact
    from then on."""
    monkeypatch.setattr(postgres_upgrade, "_BACKFILL_ITEMS", backfill_items)
    monkeypatch.setattr(textsegments, "MERGE_FACTOR", merge_factor)
    monkeypatch.setattr(textmerges, "MERGE_FACTOR", merge_factor)
    url = pg_server.url_for(tmp_path)
    many = {f"m{k}": f"owl w{k % 3}" for k in range(7)}  # chunks past a merge's new id
    with nighdb.open_store(url) as store:
        _fill(store)
        store.ensure_collection("t", Collection("many", 2))
        store.upsert(
            "t", "many", [{"id": i, "vector": [1.0, 0.0], "text": t} for i, t in many.items()]
        )
    with psycopg.connect(url, autocommit=True) as conn:
        for cid in _drop_text_tables(conn):
            table = sql.Identifier(f"nigh_postings_{cid}")
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} (term_hash bytea NOT NULL, item_hash bytea NOT NULL, "
                    "item text NOT NULL, tf integer NOT NULL, length integer NOT NULL, "
                    "PRIMARY KEY (term_hash, item_hash))"
                ).format(table)
            )
            # A stale posting: version 3's rows are not read, the texts are.
            conn.execute(
                sql.SQL("INSERT INTO {} VALUES ('\\x00', '\\x00', 'a', 9, 9)").format(table)
            )
        conn.execute("UPDATE nigh_collections SET text_items = 0, text_length = 0")
        conn.execute("UPDATE nigh_meta SET value = '3' WHERE key = 'schema_version'")
    with nighdb.open_store(url) as store:
        _check(store)
        got = store.search("t", "many", text="owl w1")
        want = bm25(many, "owl w1", lambda _: True)
        assert [m.id for m in got] == [i for i, _ in want]
        assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT value FROM nigh_meta WHERE key = 'schema_version'").fetchone()
        assert row is not None and int(str(row[0])) == postgres_schema.SCHEMA_VERSION
        left = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename LIKE 'nigh\\_postings\\_%'"
        ).fetchone()
        assert left == (0,)
        docs = conn.execute("SELECT docs FROM nigh_tsegs_1 ORDER BY seg").fetchall()
        # Every stored item in one segment exactly once (the three with terms: "c" is empty).
        assert sum(int(d) for (d,) in docs) == 3
        if merge_factor == 8:
            assert len(docs) == -(-len(TEXTS) // backfill_items)


def test_postgres_version_4_rows_are_read_beside_shared_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 4 kept every term in its own rows; step 5 adds the ``terms`` column of the
    buckets' shared rows and rewrites nothing. The version-4 rows are then read, merged and
    tombstoned beside the shared rows of later writes."""
    url = pg_server.url_for(tmp_path)
    texts = {f"i{k}": f"owl w{k % 3} x{k}" for k in range(6)}
    monkeypatch.setattr(textsegments, "SHARED_BELOW", 1)  # version 4's rows: a term's own
    with nighdb.open_store(url) as store:
        store.ensure_collection("t", Collection("c", 2))
        store.upsert(
            "t", "c", [{"id": i, "vector": [1.0, 0.0], "text": t} for i, t in texts.items()]
        )
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM nigh_tpost_1 WHERE terms IS NOT NULL"
        ).fetchone() == (0,)
        conn.execute("ALTER TABLE nigh_tpost_1 DROP COLUMN terms")
        conn.execute("DROP FUNCTION nigh_tread_1, nigh_tfetch_1")  # version 5's readers
        conn.execute("UPDATE nigh_meta SET value = '4' WHERE key = 'schema_version'")
    monkeypatch.setattr(textsegments, "SHARED_BELOW", 4)
    monkeypatch.setattr(textsegments, "MERGE_FACTOR", 2)
    monkeypatch.setattr(textmerges, "MERGE_FACTOR", 2)
    with nighdb.open_store(url) as store:
        for query in ("owl", "w1 x2", "x5"):
            got = store.search("t", "c", text=query)
            want = bm25(texts, query, lambda _: True)
            assert [m.id for m in got] == [i for i, _ in want]
        # A shared row beside them, a tombstone on a version-4 row, then a merge of both.
        changed = {"i0": "owl owl", "n1": "w1 w1 x9"}
        for i, t in changed.items():
            store.upsert("t", "c", [{"id": i, "vector": [1.0, 0.0], "text": t}])
        texts |= changed
        for query in ("owl", "w1 x2", "x0 x9", "w2"):
            got = store.search("t", "c", text=query)
            want = bm25(texts, query, lambda _: True)
            assert [m.id for m in got] == [i for i, _ in want]
            assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
    with psycopg.connect(url) as conn:
        version = conn.execute("SELECT value FROM nigh_meta WHERE key = 'schema_version'")
        assert version.fetchone() == (str(postgres_schema.SCHEMA_VERSION),)
        kinds = conn.execute(
            "SELECT DISTINCT terms IS NULL, length(term_hash) FROM nigh_tpost_1 ORDER BY 1"
        ).fetchall()
        assert kinds == [(False, 2), (True, 16)]  # merged: own rows and shared rows
