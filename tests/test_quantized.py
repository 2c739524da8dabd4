"""The int8 copy of a collection (backends/sqlite/quantized*.py): its bound, its exactness,
its coherence with other writers and its persisted file.

The bound is checked against float64 distances on random data (hypothesis); exactness
against a float64 brute force and against the float32 copy; coherence with a second store
on the same file (another process's writes); the persisted copy by what it saves the next
store from doing (the full build) and by the files it must refuse.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import apsw
import numkong
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nighdb
from nighdb import Collection
from nighdb.backends.sqlite import quantized_copy, transactions
from nighdb.backends.sqlite.quantized import distance_bounds, quantize, quantized_bytes
from nighdb.backends.sqlite.quantized_file import MAGIC, path_for
from nighdb.errors import InvalidArgumentError
from nighdb.ranking import exact_distances

DIMS = 16
METRICS = ["cosine", "l2", "ip"]


def _floats(scale: float) -> st.SearchStrategy[float]:
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def rows_and_query(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    dims = draw(st.integers(1, 40))
    n = draw(st.integers(1, 30))
    scale = draw(st.sampled_from([2.0**-100, 2.0**-10, 1.0, 2.0**20, 2.0**100]))
    elements = _floats(scale)
    x = draw(hnp.arrays(np.float32, (n, dims), elements=elements))
    q = draw(hnp.arrays(np.float32, (dims,), elements=elements))
    # Exact duplicates of the query and of each other: where rounding is most tempting.
    if draw(st.booleans()):
        x[0] = q
    return x, q


@settings(max_examples=300, deadline=None)
@given(data=rows_and_query(), metric=st.sampled_from(METRICS))
def test_the_bound_holds_for_every_row(data: tuple[np.ndarray, np.ndarray], metric: str) -> None:
    x, q = data
    if metric == "cosine":  # the contract rejects zero vectors under cosine
        x = x[np.linalg.norm(x.astype(np.float64), axis=1) > 0]
        if not len(x) or not np.any(q):
            return
    block = quantize(np.arange(len(x), dtype=np.int64), x)
    lower, upper = distance_bounds(block, q, metric)
    exact = exact_distances(x, q, metric)
    assert np.all(lower <= exact), (lower - exact).max()
    assert np.all(exact <= upper), (exact - upper).max()


def test_the_kernel_sums_int8_products_exactly() -> None:
    """The bound assumes exact integer dot products: extremes included, 16,000 dims."""
    rng = np.random.default_rng(0)
    codes = rng.integers(-127, 128, size=(50, 16000), dtype=np.int8)
    codes[0] = 127
    codes[1] = -127
    query = np.full((1, 16000), -127, dtype=np.int8)
    out = np.empty((1, 50))
    numkong.cdist(query, codes, metric="dot", out=out)
    assert np.array_equal(out[0], codes.astype(np.int64) @ query[0].astype(np.int64))
    # The packed kernel that search_many uses, with several queries at once.
    queries = np.concatenate([query, codes[:3], -codes[:1]])
    packed = np.asarray(numkong.dots_packed(codes, numkong.dots_pack(queries)))
    assert np.array_equal(packed, codes.astype(np.int64) @ queries.T.astype(np.int64))


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'int8.db'}"


def dataset(n: int, seed: int, dims: int = DIMS) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((5, dims))
    vectors = (centres[rng.integers(0, 5, n)] + 0.1 * rng.standard_normal((n, dims))).astype(
        np.float32
    )
    vectors[n // 2 : n // 2 + 20] = vectors[n // 2]  # a run of exact ties, broken by id
    return [
        {"id": f"k{(i * 7919) % n:05d}", "vector": vectors[i], "metadata": {"g": i % 10}}
        for i in range(n)
    ]


def brute_force(
    data: list[dict[str, object]], query: np.ndarray, k: int, metric: str
) -> list[tuple[str, float]]:
    """The exact top ``k`` in float64, ties by id: the reference."""
    x = np.stack([np.asarray(d["vector"], dtype=np.float32) for d in data])
    dist = exact_distances(x, query.astype(np.float32), metric)
    order = sorted(range(len(data)), key=lambda i: (dist[i], str(data[i]["id"])))
    return [(str(data[i]["id"]), float(dist[i])) for i in order[:k]]


@pytest.mark.parametrize("metric", METRICS)
def test_results_are_those_of_exact_search(url: str, metric: str) -> None:
    data = dataset(3000, seed=1)
    rng = np.random.default_rng(2)
    # 11 queries: search_many scans them in groups (of 8), one kernel pass per group.
    queries = rng.standard_normal((11, DIMS)).astype(np.float32)
    queries[0] = np.asarray(data[1500]["vector"])  # the query sits on the run of ties
    with nighdb.open_store(url, cache_precision="float32") as exact:
        exact.ensure_collection("t", Collection("c", DIMS, metric=metric))
        exact.upsert("t", "c", data)
        expected = exact.search_many("t", "c", queries, limit=30)
        expected_filtered = exact.search_many("t", "c", queries, limit=30, filter={"g": 3})
    with nighdb.open_store(url, cache_precision="int8") as int8:
        got = int8.search_many("t", "c", queries, limit=30)
        assert got == expected
        assert int8.search_many("t", "c", queries, limit=30, filter={"g": 3}) == expected_filtered
        # Most rows pass: the int8 scan covers every row and masks the others.
        wide = {"g": {"ne": 3}}
        assert int8.search_many("t", "c", queries, limit=7, filter=wide) == exact_search(
            url, queries, 7, wide
        )
    for query, matches in zip(queries, got, strict=True):
        assert [(m.id, m.distance) for m in matches] == brute_force(data, query, 30, metric)


def exact_search(url: str, queries: np.ndarray, k: int, filt: Mapping[str, object]) -> object:
    with nighdb.open_store(url, cache_precision="float32") as exact:
        return exact.search_many("t", "c", queries, limit=k, filter=filt)


def test_auto_takes_the_int8_copy_only_past_the_budget(url: str) -> None:
    data = dataset(2000, seed=3)
    query = np.asarray(data[0]["vector"], dtype=np.float32)
    # 2,000 x 16: the float32 copy needs ~290 KB, the int8 copy ~190 KB.
    with nighdb.open_store(url, cache_bytes=200_000) as store:
        store.ensure_collection("t", Collection("c", DIMS))
        store.upsert("t", "c", data)
        hits = store.search("t", "c", query, limit=10)
        assert store._cache.used_bytes == quantized_bytes(2000, DIMS)  # type: ignore[attr-defined]
    assert [(m.id, m.distance) for m in hits] == brute_force(data, query, 10, "cosine")


def test_cache_precision_is_checked(url: str) -> None:
    with pytest.raises(InvalidArgumentError, match="cache_precision"):
        nighdb.open_store(url, cache_precision="int4")


@pytest.fixture
def pair(url: str) -> Iterator[tuple[nighdb.Store, nighdb.Store]]:
    reader = nighdb.open_store(url, cache_precision="int8")
    writer = nighdb.open_store(url)
    yield reader, writer
    reader.close()
    writer.close()


def test_another_stores_writes_make_the_copy_stale(
    pair: tuple[nighdb.Store, nighdb.Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = pair
    writer.ensure_collection("t", Collection("c", DIMS, metric="l2"))
    data = dataset(500, seed=4)
    writer.upsert("t", "c", data)
    query = np.asarray(data[10]["vector"], dtype=np.float32)

    def top(k: int = 5) -> list[tuple[str, float]]:
        return [(m.id, m.distance) for m in reader.search("t", "c", query, limit=k)]

    assert top() == brute_force(data, query, 5, "l2")
    builds = spy_builds(monkeypatch)  # from here on the copy is only ever caught up
    # A replaced vector: the new one is the query itself, so it ranks first.
    moved: dict[str, object] = {"id": str(data[300]["id"]), "vector": query, "metadata": {}}
    writer.upsert("t", "c", [moved])
    data[300] = moved
    assert top() == brute_force(data, query, 5, "l2")
    assert top(1)[0][1] == 0.0
    # Deletes leave no changed row behind: the rows still present come from the seq index.
    gone = {str(data[10]["id"]), str(data[300]["id"])}
    writer.delete("t", "c", sorted(gone))
    data = [d for d in data if d["id"] not in gone]
    assert top() == brute_force(data, query, 5, "l2")
    # Deletes and upserts between two searches, in one catch-up.
    writer.delete("t", "c", [str(data[0]["id"])])
    writer.upsert("t", "c", [{"id": "fresh", "vector": query + 1, "metadata": {}}])
    data = [*data[1:], {"id": "fresh", "vector": query + 1}]
    assert top(50) == brute_force(data, query, 50, "l2")
    assert builds == []


def spy_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    builds: list[int] = []
    real = quantized_copy._build

    def counting(*args: object) -> object:
        builds.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(quantized_copy, "_build", counting)
    return builds


def first_search(url: str, query: np.ndarray) -> list[tuple[str, float]]:
    with nighdb.open_store(url, cache_precision="int8") as store:
        return [(m.id, m.distance) for m in store.search("t", "c", query, limit=8)]


def persisted(url: str, tmp_path: Path) -> tuple[list[dict[str, object]], np.ndarray, Path]:
    data = dataset(800, seed=5)
    with nighdb.open_store(url) as store:
        store.ensure_collection("t", Collection("c", DIMS))
        store.upsert("t", "c", data)
    query = np.asarray(data[3]["vector"], dtype=np.float32)
    first_search(url, query)  # builds the copy and writes it beside the database
    files = list(tmp_path.glob("int8.db-nigh-int8-*"))
    assert len(files) == 1
    return data, query, files[0]


def test_a_sound_persisted_copy_spares_the_build(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, query, _ = persisted(url, tmp_path)
    builds = spy_builds(monkeypatch)
    assert first_search(url, query) == brute_force(data, query, 8, "cosine")
    assert builds == []
    # Written since the copy was saved: the copy is caught up from the changed rows only.
    extra: list[dict[str, object]] = [
        {**d, "id": f"new{i}"} for i, d in enumerate(dataset(40, seed=6))
    ]
    with nighdb.open_store(url) as store:
        store.upsert("t", "c", extra)
    assert first_search(url, query) == brute_force(data + extra, query, 8, "cosine")
    assert builds == []


def _rewrite_header(path: Path, **changes: object) -> None:
    raw = path.read_bytes()
    head = len(MAGIC) + 4
    (size,) = struct.unpack_from("<I", raw, len(MAGIC))
    meta = json.loads(raw[head : head + size])
    meta.update(changes)
    header = json.dumps(meta).encode()
    path.write_bytes(MAGIC + struct.pack("<I", len(header)) + header + raw[head + size :])


def _flip_last_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x55
    path.write_bytes(bytes(raw))


def _forge_codes(path: Path) -> None:
    """Zero the codes and fix the checksum: only the header's identity can catch it now."""
    raw = bytearray(path.read_bytes())
    head = len(MAGIC) + 4
    (size,) = struct.unpack_from("<I", raw, len(MAGIC))
    meta = json.loads(raw[head : head + size])
    start = head + size + 8 * meta["rows"]
    raw[start : start + meta["rows"] * meta["dims"]] = bytes(meta["rows"] * meta["dims"])
    meta["crc32"] = zlib.crc32(raw[head + size :])
    meta["created_at"] = meta["created_at"] + 1.0  # as if from another collection's life
    path.write_bytes(bytes(raw))
    _rewrite_header(path, **meta)


BAD_FILES: dict[str, Callable[[Path], object]] = {
    "corrupt": _flip_last_byte,
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:-7]),
    "from the future": lambda p: _rewrite_header(p, version=10**6),
    "another collection": _forge_codes,
    "not a copy": lambda p: p.write_bytes(b"garbage"),
}


@pytest.mark.parametrize("damage", sorted(BAD_FILES))
def test_a_stale_or_corrupt_persisted_copy_is_rebuilt(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    data, query, path = persisted(url, tmp_path)
    BAD_FILES[damage](path)
    builds = spy_builds(monkeypatch)
    assert first_search(url, query) == brute_force(data, query, 8, "cosine")
    assert builds == [1]
    # ... and replaced by a sound one, which the next store uses.
    assert first_search(url, query) == brute_force(data, query, 8, "cosine")
    assert builds == [1]


def test_dropping_a_collection_removes_its_copy(url: str, tmp_path: Path) -> None:
    _, _, path = persisted(url, tmp_path)
    with nighdb.open_store(url) as store:
        store.drop_collection("t", "c")
    assert not path.exists()
    assert path == path_for(str(tmp_path / "int8.db"), int(path.name.rsplit("-", 1)[1]))


def test_threads_building_at_once_leave_one_sound_copy(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each thread of a cold store may build and save the copy: the saves must not tear it."""
    data = dataset(600, seed=7)
    with nighdb.open_store(url) as store:
        store.ensure_collection("t", Collection("c", DIMS))
        store.upsert("t", "c", data)
    queries = np.stack([np.asarray(d["vector"], dtype=np.float32) for d in data[:8]])
    expected = [brute_force(data, q, 8, "cosine") for q in queries]
    with nighdb.open_store(url, cache_precision="int8") as store:

        def search(i: int) -> list[tuple[str, float]]:
            return [(m.id, m.distance) for m in store.search("t", "c", queries[i], limit=8)]

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(search, range(8))) == expected
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    builds = spy_builds(monkeypatch)
    assert first_search(url, queries[0]) == expected[0]
    assert builds == []


def test_a_copy_from_before_a_restored_backup_is_rebuilt(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database restored from a backup, then written up to the copy's version again with
    other vectors for the same rows: the persisted copy names that version but another
    history, so it is rebuilt, never used (its codes would put the rows written since far
    from where they are)."""
    data = dataset(800, seed=5)
    db = tmp_path / "int8.db"
    with nighdb.open_store(url) as store:
        store.ensure_collection("t", Collection("c", DIMS))
        store.upsert("t", "c", data)
    backup = tmp_path / "backup.db"
    shutil.copyfile(db, backup)
    query = np.asarray(data[3]["vector"], dtype=np.float32)
    moved = [str(d["id"]) for d in data[100:130]]
    with nighdb.open_store(url) as store:  # history 1: the rows moved away from the query
        store.upsert("t", "c", [{"id": i, "vector": -query} for i in moved])
    first_search(url, query)  # the copy of history 1, saved beside the database
    shutil.copyfile(backup, db)  # the backup restored; the copy beside it stays
    with nighdb.open_store(url) as store:  # history 2: the same rows, onto the query
        store.upsert("t", "c", [{"id": i, "vector": query} for i in moved])
    truth = {str(d["id"]): d for d in data} | {i: {"id": i, "vector": query} for i in moved}
    builds = spy_builds(monkeypatch)
    assert first_search(url, query) == brute_force(list(truth.values()), query, 8, "cosine")
    assert builds == [1]


def test_a_copy_older_than_the_kept_tokens_is_rebuilt(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens are kept for the last ``KEPT_VERSIONS`` versions only: a copy further behind
    cannot be told from another history's, so it is rebuilt (and the table stays small)."""
    monkeypatch.setattr(transactions, "KEPT_VERSIONS", 3)
    data, query, _ = persisted(url, tmp_path)
    extra = dataset(40, seed=6)
    with nighdb.open_store(url) as store:
        for n in range(4):
            store.upsert("t", "c", [{**extra[n], "id": f"new{n}"}])
    conn = apsw.Connection(str(tmp_path / "int8.db"))
    kept = [int(r[0]) for r in conn.execute("SELECT version FROM nigh_versions ORDER BY 1")]
    conn.close()
    assert kept == [3, 4, 5]  # the copy's version, 1, is no longer kept
    builds = spy_builds(monkeypatch)
    everything = data + [{**extra[n], "id": f"new{n}"} for n in range(4)]
    assert first_search(url, query) == brute_force(everything, query, 8, "cosine")
    assert builds == [1]
