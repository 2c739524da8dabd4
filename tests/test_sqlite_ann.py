"""The SQLite backend's HNSW files (backends/sqlite/ann*.py): derived data, never trusted.

Real files and real processes: the graph's file beside the database, its ``nigh_indexes``
row, the upgrade of a version-1 database, a corrupt or missing file, two stores (each with
its own graph, as two processes have) writing one file, and a writer killed with SIGKILL.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import pytest

import nighdb
from nighdb import IndexOptions, InvalidArgumentError
from nighdb.backends.sqlite.schema import SCHEMA_VERSION

T, C, DIMS = "acme", "docs", 8


def _items(start: int, stop: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed + start)
    vectors = rng.standard_normal((stop - start, DIMS)).astype(np.float32)
    return [
        {"id": f"i{n:05d}", "vector": vectors[n - start].tolist(), "metadata": {"odd": n % 2}}
        for n in range(start, stop)
    ]


def _open(path: Path, **options: Any) -> nighdb.Store:
    return nighdb.open_store(f"sqlite:///{path}", exact_below=0, **options)


def _record(path: Path) -> tuple[int, int] | None:
    """The index row's (generation, version), read straight from the file."""
    conn = apsw.Connection(str(path))
    try:
        row = conn.execute("SELECT id, version FROM nigh_indexes").fetchone()
    finally:
        conn.close()
    return None if row is None else (int(row[0]), int(row[1]))


def _top(store: nighdb.Store, vector: list[float], **options: Any) -> str:
    return store.search(T, C, vector, limit=1, **options)[0].id


def test_the_index_is_a_file_beside_the_database(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with _open(db) as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS))
        store.upsert(T, C, _items(0, 50))
        store.create_index(T, C, m=4, ef_construction=8)
        files = sorted(p.name for p in (tmp_path / "store.db-nighidx").iterdir())
        assert files == ["1.usearch"]  # the collection's integer id, no temporary left over
        assert _record(db) is not None
        assert store.drop_index(T, C) is True
        assert not (tmp_path / "store.db-nighidx" / "1.usearch").exists()
        assert _record(db) is None
        store.create_index(T, C)
        store.drop_collection(T, C)
        assert not (tmp_path / "store.db-nighidx" / "1.usearch").exists()


def test_without_usearch_create_index_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "usearch", None)  # import usearch now fails
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    with _open(tmp_path / "store.db") as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS))
        with pytest.raises(InvalidArgumentError) as info:
            store.create_index(T, C)
        assert info.value.code == "invalid_argument"
        assert "nighdb[ann]" in info.value.message
        assert store.describe_index(T, C) is None
        assert store.search(T, C, [1.0] * DIMS) == []  # search never needs it


def test_a_version_1_database_is_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with _open(db) as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS))
        store.upsert(T, C, _items(0, 20))
    conn = apsw.Connection(str(db))  # back to what a version-1 nighdb wrote
    conn.execute("DROP TABLE nigh_indexes")
    conn.execute("UPDATE nigh_meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    with _open(db) as store:
        store.create_index(T, C, m=4, ef_construction=8)
        assert store.describe_index(T, C) == IndexOptions(4, 8)
        assert store.count(T, C) == 20
    conn = apsw.Connection(str(db))
    version = conn.execute("SELECT value FROM nigh_meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version is not None and int(version[0]) == SCHEMA_VERSION >= 3


@pytest.mark.parametrize("damage", ["missing", "garbage", "empty"])
def test_a_damaged_file_is_rebuilt_from_the_items(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "store.db"
    items = _items(0, 300)
    with _open(db) as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS))
        store.upsert(T, C, items)
        store.create_index(T, C, m=8, ef_construction=32)
    path = tmp_path / "store.db-nighidx" / "1.usearch"
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(b"" if damage == "empty" else os.urandom(4096))
    with _open(db) as store:
        for n in (0, 150, 299):
            assert _top(store, items[n]["vector"]) == items[n]["id"]
        assert store.describe_index(T, C) == IndexOptions(8, 32)


def test_two_stores_with_graphs_on_one_file_stay_coherent(tmp_path: Path) -> None:
    """Two stores keep two graphs, as two processes do: each sees the other's writes,
    deletes and rebuilds."""
    db = tmp_path / "store.db"
    items = _items(0, 600)
    with _open(db) as a, _open(db) as b:
        a.ensure_collection(T, nighdb.Collection(C, DIMS))
        a.upsert(T, C, items[:400])
        a.create_index(T, C, m=8, ef_construction=32)
        assert _top(b, items[10]["vector"]) == "i00010"  # b loads a's file
        b.upsert(T, C, items[400:])
        assert _top(a, items[500]["vector"]) == "i00500"  # a catches up on b's rows
        b.delete(T, C, ["i00500", "i00010"])
        assert _top(a, items[500]["vector"]) != "i00500"  # and on b's deletes
        assert _top(a, items[10]["vector"]) != "i00010"
        a.update(T, C, [{"id": "i00020", "vector": items[500]["vector"]}])
        assert _top(b, items[500]["vector"]) == "i00020"
        # A rebuild: a new generation. Its options are generous: usearch builds with every
        # core, in no fixed order, and a sparser graph (m=4) missed an item's own vector
        # once on a loaded machine.
        b.create_index(T, C, m=16, ef_construction=64)
        assert a.describe_index(T, C) == IndexOptions(16, 64)
        assert _top(a, items[300]["vector"]) == "i00300"
        assert a.drop_index(T, C) is True
        assert b.describe_index(T, C) is None
        assert _top(b, items[300]["vector"]) == "i00300"  # exact again


def test_a_graph_that_caught_up_on_many_rows_is_saved(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with _open(db) as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS))
        store.upsert(T, C, _items(0, 100))
        store.create_index(T, C, m=8, ef_construction=32)
        first = _record(db)
        assert first is not None
        store.upsert(T, C, _items(100, 1500))  # 1,400 rows: past the save threshold
        store.search(T, C, [1.0] * DIMS)
        later = _record(db)
        assert later is not None and later[0] == first[0] and later[1] > first[1]
        assert _keys_in_file(tmp_path) == 1500
        # Deletes leave no row behind; the graph finds them by rowid and drops them too.
        store.delete(T, C, filter={"odd": 1})
        store.delete(T, C, [f"i{n:05d}" for n in range(0, 1000, 2)])
        store.search(T, C, [1.0] * DIMS)
        assert _keys_in_file(tmp_path) == store.count(T, C) == 250


def _keys_in_file(tmp_path: Path) -> int:
    from usearch.index import Index

    index = Index.restore(str(tmp_path / "store.db-nighidx" / "1.usearch"))
    assert index is not None
    return len(index)


@pytest.mark.parametrize("value", [-1, 1.5, "10", True])
def test_exact_below_is_checked(tmp_path: Path, value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="exact_below"):
        nighdb.open_store(f"sqlite:///{tmp_path / 'store.db'}", exact_below=value)


_WRITER = """
import sys, numpy as np, nighdb
store = nighdb.open_store(sys.argv[1], exact_below=0)
rng = np.random.default_rng(int(sys.argv[2]))
for batch in range(10_000):
    ids = [f"{sys.argv[2]}-{batch}-{n}" for n in range(20)]
    vectors = rng.standard_normal((20, 8)).astype(np.float32)
    store.upsert("acme", "docs", [{"id": i, "vector": v} for i, v in zip(ids, vectors)])
    store.search("acme", "docs", vectors[0], limit=3)  # catch up, and save now and then
    print(batch, flush=True)
"""


def test_writers_killed_mid_write_lose_nothing_acknowledged(tmp_path: Path) -> None:
    """Two processes write and search one indexed collection; both are SIGKILLed mid-way.
    Every acknowledged batch is found through the index afterwards."""
    db = tmp_path / "store.db"
    with _open(db) as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS))
        store.upsert(T, C, _items(0, 200))
        store.create_index(T, C, m=8, ef_construction=32)
    url = f"sqlite:///{db}"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(seed)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    acknowledged: dict[int, int] = {}
    try:
        for seed, writer in zip((1, 2), writers, strict=True):
            assert writer.stdout is not None
            for _ in range(60):  # past the first saves of the file (1,000 rows)
                line = writer.stdout.readline()
                assert line, "the writer died on its own"
                acknowledged[seed] = int(line)
        for writer in writers:
            writer.send_signal(signal.SIGKILL)
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
            assert writer.stdout is not None
            writer.stdout.close()
    rng_check: dict[str, Any] = {}
    with _open(db) as store:
        for seed, last in acknowledged.items():
            rng = np.random.default_rng(seed)
            for batch in range(last + 1):
                vectors = rng.standard_normal((20, 8)).astype(np.float32)
                if batch % 7 == 0 or batch == last:
                    rng_check[f"{seed}-{batch}-0"] = vectors[0]
        assert store.count(T, C) >= 200 + 20 * sum(last + 1 for last in acknowledged.values())
        for item_id, vector in rng_check.items():
            assert _top(store, vector.tolist()) == item_id, item_id
        assert store.describe_index(T, C) == IndexOptions(8, 32)


@pytest.mark.parametrize(("metric", "scalar"), [("cosine", "I8"), ("l2", "F32"), ("ip", "F32")])
def test_a_cosine_graph_holds_int8_unit_vectors(tmp_path: Path, metric: str, scalar: str) -> None:
    """Cosine graphs store int8 (a quarter of float32's memory, faster to build); lengths far
    from 1 still find the exact neighbours, because the graph holds directions and every
    candidate is rescored from the stored float32 row. L2 and ip keep float32."""
    from usearch.index import Index

    db = tmp_path / "store.db"
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((300, DIMS)).astype(np.float32)
    # Lengths from 1e-3 to 1e3: int8 without the scaling to unit length would clip them.
    vectors *= (10.0 ** rng.uniform(-3, 3, size=(300, 1))).astype(np.float32)
    items = [{"id": f"i{n:05d}", "vector": v.tolist()} for n, v in enumerate(vectors)]
    with _open(db) as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS, metric=metric))
        store.upsert(T, C, items)
        store.create_index(T, C, m=8, ef_construction=32)
        metadata = Index.metadata(str(tmp_path / "store.db-nighidx" / "1.usearch"))
        assert metadata is not None and metadata["kind_scalar"].name == scalar
        if metric == "cosine":
            for query in vectors[:20] * 1000.0:
                approximate = store.search(T, C, query.tolist(), limit=5, ef_search=300)
                exact = store.search(T, C, query.tolist(), limit=5, exact=True)
                assert [m.id for m in approximate] == [m.id for m in exact]


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_search_many_answers_as_single_searches_do(tmp_path: Path, metric: str) -> None:
    """``search_many`` reads and rescores the candidates of all its queries together, a few
    queries per gathered block: each answer is still the single search's, bit for bit (the
    same float64 distance for each pair as ``exact_distances``, ties by id), whichever block
    a query falls in. 300 queries of 8 dimensions span two blocks."""
    from nighdb.ranking import exact_distances

    rng = np.random.default_rng(15)
    vectors = rng.standard_normal((400, DIMS)).astype(np.float32)
    vectors[200:240] = vectors[:40]  # ties: the same vector under two ids
    items = [
        {"id": f"i{n:05d}", "vector": v.tolist(), "metadata": {"n": n}, "text": f"item {n}"}
        for n, v in enumerate(vectors)
    ]
    queries = np.concatenate([vectors[:40], rng.standard_normal((260, DIMS))]).astype(np.float32)
    with _open(tmp_path / "store.db") as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS, metric=metric))
        store.upsert(T, C, items)
        store.create_index(T, C, m=8, ef_construction=32)
        many = store.search_many(T, C, queries, limit=10)
        assert many == [store.search(T, C, q, limit=10) for q in queries]
        for query, matches in zip(queries, many, strict=True):
            assert len(matches) == 10
            rows = [int(m.id[1:]) for m in matches]
            expected = exact_distances(vectors[rows], query, metric).tolist()
            assert [m.distance for m in matches] == expected
            assert [(m.distance, m.id) for m in matches] == sorted(
                (m.distance, m.id) for m in matches
            )
            assert [m.metadata["n"] for m in matches] == rows
            assert [m.text for m in matches] == [f"item {n}" for n in rows]
        # The exact search gives the same distances, to the last bit.
        exact = store.search_many(T, C, queries, limit=10, exact=True)
        for approximate, exactly in zip(many, exact, strict=True):
            by_id = {m.id: m.distance for m in exactly}
            assert all(by_id.get(m.id, m.distance) == m.distance for m in approximate)
        # Twins (the same vector under two ids) came back together, tied, the lower id first.
        twins = [
            (first, second)
            for matches in many
            for first, second in itertools.pairwise(matches)
            if int(first.id[1:]) < 40 and int(second.id[1:]) == int(first.id[1:]) + 200
        ]
        assert twins
        assert all(first.distance == second.distance for first, second in twins)


def test_candidates_missing_from_the_snapshot_drop_out(tmp_path: Path) -> None:
    """The graph may hold rows this snapshot lacks (another thread caught it up past it):
    the rescoring reads the rows that exist, with their rowids, and only those."""
    from nighdb.backends.sqlite.ann_search import _vectors
    from nighdb.backends.sqlite.schema import PIN_COLUMNS, Pin

    db = tmp_path / "store.db"
    items = _items(0, 5)
    with _open(db) as store:
        store.ensure_collection(T, nighdb.Collection(C, DIMS))
        store.upsert(T, C, items)
    conn = apsw.Connection(str(db))
    try:
        row = conn.execute(f"SELECT {PIN_COLUMNS} FROM nigh_collections").fetchone()
        assert row is not None
        pin = Pin(row)
        stored = np.array([item["vector"] for item in items], dtype=np.float32)
        every = np.array([1, 2, 3, 4, 5], dtype=np.int64)
        rowids, vectors = _vectors(conn, pin, every)
        assert rowids.tolist() == [1, 2, 3, 4, 5]
        assert np.array_equal(vectors, stored)
        rowids, vectors = _vectors(conn, pin, np.array([2, 4, 6, 9], dtype=np.int64))
        assert rowids.tolist() == [2, 4]
        assert np.array_equal(vectors, stored[[1, 3]])
        rowids, vectors = _vectors(conn, pin, np.array([7], dtype=np.int64))
        assert rowids.tolist() == [] and vectors.shape == (0, DIMS)
    finally:
        conn.close()
