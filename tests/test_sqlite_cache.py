"""The SQLite backend's in-process vector copy: coherent with other writers, bounded, exact.

Two store objects on one file stand for two processes: each has its own cache, so writes
through one must show in the other's next search (refresh of changed rows, reload after
deletes, a fresh copy after drop and re-create). A store whose budget is too small for a
collection streams it instead, and must return exactly what the cached path returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import nighdb
from nighdb import Collection
from nighdb.backends.sqlite import SQLiteStore

DIMS = 8


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cache.db'}"


@pytest.fixture
def pair(url: str) -> Iterator[tuple[nighdb.Store, nighdb.Store]]:
    reader = nighdb.open_store(url)
    writer = nighdb.open_store(url)
    yield reader, writer
    reader.close()
    writer.close()


def items(n: int, seed: int, prefix: str = "id") -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIMS)).astype(np.float32)
    return [
        {"id": f"{prefix}{i:04d}", "vector": vectors[i], "metadata": {"i": i, "even": i % 2 == 0}}
        for i in range(n)
    ]


def ids(matches: list[nighdb.Match]) -> list[str]:
    return [m.id for m in matches]


def brute_force(data: list[dict[str, object]], query: np.ndarray, k: int) -> list[str]:
    """Exact cosine top-k by numpy in float64, ties by id: the reference."""
    mat = np.stack([np.asarray(d["vector"], dtype=np.float64) for d in data])
    q = query.astype(np.float64)
    dist = 1 - (mat @ q) / (np.linalg.norm(mat, axis=1) * np.linalg.norm(q))
    order = sorted(range(len(data)), key=lambda i: (dist[i], str(data[i]["id"])))
    return [str(data[i]["id"]) for i in order[:k]]


def test_reader_sees_inserts_updates_and_deletes_from_another_store(
    pair: tuple[nighdb.Store, nighdb.Store],
) -> None:
    reader, writer = pair
    writer.ensure_collection("t", Collection("c", DIMS))
    data = items(200, seed=1)
    writer.upsert("t", "c", data)
    query = np.asarray(data[7]["vector"], dtype=np.float32)
    assert ids(reader.search("t", "c", query, limit=5)) == brute_force(data, query, 5)

    # New rows: the reader's copy is refreshed from the changed rows only.
    more = items(50, seed=2, prefix="new")
    writer.upsert("t", "c", more)
    assert ids(reader.search("t", "c", query, limit=5)) == brute_force(data + more, query, 5)

    # A replaced vector moves: id0100 becomes the query itself, so it ranks first.
    writer.upsert("t", "c", [{"id": "id0100", "vector": query * 2}])
    data[100] = {"id": "id0100", "vector": query * 2}
    hits = reader.search("t", "c", query, limit=2)
    assert ids(hits) == ["id0007", "id0100"]
    assert hits[1].metadata == {}  # replacement is total

    # Deleted rows disappear, even though deletes leave no trace in the changed rows.
    assert writer.delete("t", "c", ["id0007", "id0100"]) == 2
    remaining = [d for d in data + more if d["id"] not in {"id0007", "id0100"}]
    assert ids(reader.search("t", "c", query, limit=5)) == brute_force(remaining, query, 5)
    assert reader.count("t", "c") == len(remaining)


def test_drop_and_recreate_elsewhere_never_serves_the_old_copy(
    pair: tuple[nighdb.Store, nighdb.Store],
) -> None:
    reader, writer = pair
    writer.ensure_collection("t", Collection("c", DIMS))
    writer.upsert("t", "c", items(30, seed=3))
    query = np.ones(DIMS, dtype=np.float32)
    assert len(reader.search("t", "c", query, limit=100)) == 30

    writer.drop_collection("t", "c")
    writer.ensure_collection("t", Collection("c", DIMS))
    assert reader.search("t", "c", query, limit=100) == []
    writer.upsert("t", "c", items(3, seed=4, prefix="z"))
    assert sorted(ids(reader.search("t", "c", query, limit=100))) == ["z0000", "z0001", "z0002"]


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_streaming_over_budget_equals_cached(url: str, metric: str) -> None:
    data = items(3000, seed=5)
    rng = np.random.default_rng(6)
    queries = rng.standard_normal((7, DIMS)).astype(np.float32)
    filt = {"even": True, "i": {"lt": 2500}}
    with nighdb.open_store(url) as cached:
        cached.ensure_collection("t", Collection("c", DIMS, metric=metric))
        cached.upsert("t", "c", data)
        expected = cached.search_many("t", "c", queries, limit=25)
        expected_filtered = cached.search_many("t", "c", queries, limit=25, filter=filt)
    # A budget of zero bytes caches nothing: every search streams the file in chunks.
    with nighdb.open_store(url, cache_bytes=0) as streamed:
        assert streamed.search_many("t", "c", queries, limit=25) == expected
        assert streamed.search_many("t", "c", queries, limit=25, filter=filt) == expected_filtered
    assert all(len(r) == 25 for r in expected_filtered)


def test_streaming_chunks_merge_ties_by_id(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from nighdb.backends.sqlite import search

    # 64-byte chunks hold two 8-d vectors: ties must be merged across many chunks.
    monkeypatch.setattr(search, "_STREAM_CHUNK_BYTES", 64)
    same = [1.0] * DIMS
    tied = [{"id": name, "vector": same} for name in ["m", "b", "Z", "a", "é", "A"]]
    with nighdb.open_store(url, cache_bytes=0) as store:
        store.ensure_collection("t", Collection("c", DIMS))
        store.upsert("t", "c", tied)
        assert ids(store.search("t", "c", same, limit=4)) == ["A", "Z", "a", "b"]


def test_cache_budget_is_respected(url: str) -> None:
    budget = 200_000
    with nighdb.open_store(url, cache_bytes=budget) as store:
        assert isinstance(store, SQLiteStore)
        for name in ["a", "b", "c", "d"]:
            store.ensure_collection("t", Collection(name, DIMS))
            store.upsert("t", name, items(1500, seed=7, prefix=name))
            store.search("t", name, np.ones(DIMS, dtype=np.float32))
            # Each collection's copy (~150 kB) fits alone, so older ones are evicted.
            assert 0 < store._cache.used_bytes <= budget


def test_update_and_delete_by_filter_reach_another_stores_cache(
    pair: tuple[nighdb.Store, nighdb.Store],
) -> None:
    """contract §13: update and delete by filter bump the version like upsert and delete, so
    the other store's cached vectors and metadata columns refresh."""
    reader, writer = pair
    writer.ensure_collection("t", Collection("c", 2))
    writer.upsert(
        "t",
        "c",
        [
            {"id": "a", "vector": [1.0, 0.0], "metadata": {"g": 1}},
            {"id": "b", "vector": [0.0, 1.0], "metadata": {"g": 1}},
            {"id": "c", "vector": [0.7, 0.7], "metadata": {"g": 2}},
        ],
    )
    # Warm the reader's copies: vectors, and the metadata column of "g".
    assert [m.id for m in reader.search("t", "c", [-1.0, 0.0], limit=1)] == ["b"]
    assert {m.id for m in reader.search("t", "c", [1.0, 0.0], filter={"g": 1})} == {"a", "b"}
    writer.update(
        "t", "c", [{"id": "a", "vector": [-1.0, 0.0]}, {"id": "c", "metadata_patch": {"g": 1}}]
    )
    top = reader.search("t", "c", [-1.0, 0.0], limit=1)
    assert [m.id for m in top] == ["a"]
    assert top[0].distance == pytest.approx(0.0, abs=1e-6)
    assert {m.id for m in reader.search("t", "c", [1.0, 0.0], filter={"g": 1})} == {"a", "b", "c"}
    assert writer.delete("t", "c", filter={"id": {"ne": "b"}}) == 2
    assert [m.id for m in reader.search("t", "c", [-1.0, 0.0], limit=5)] == ["b"]
    assert {m.id for m in reader.search("t", "c", [1.0, 0.0], filter={"g": 1})} == {"b"}
