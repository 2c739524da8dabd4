"""nighdb.ranking: float64 distances are a function of the two vectors alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nighdb.ranking import QueryKeys, VectorBlock, exact_distances, ordered_hits, rank_block


@settings(max_examples=40, deadline=None)
@given(
    dims=st.integers(1, 600),
    rows=st.integers(1, 40),
    scale=st.sampled_from([1e-30, 1e-3, 1.0, 1e3, 1e30]),
    seed=st.integers(0, 2**32 - 1),
)
def test_distances_are_the_textbook_formulas_bit_for_bit(
    dims: int, rows: int, scale: float, seed: int
) -> None:
    # ``exact_distances`` squares and subtracts in place in its own float64 copy; it must
    # give exactly what the formulas written out give (contract §1), and leave its input be.
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(rows, dims)) * scale).astype(np.float32)
    q = rng.normal(size=dims).astype(np.float32)
    before = x.copy()
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    dots = np.einsum("ij,j->i", x64, q64)
    cosine = np.clip(1.0 - dots / (np.linalg.norm(x64, axis=1) * np.linalg.norm(q64)), 0.0, 2.0)
    diff = x64 - q64
    l2 = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    assert np.array_equal(exact_distances(x, q, "cosine"), cosine, equal_nan=True)
    assert np.array_equal(exact_distances(x, q, "l2"), l2)
    assert np.array_equal(exact_distances(x, q, "ip"), -dots)
    assert np.array_equal(x, before)


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_a_distance_does_not_depend_on_the_other_rows_scored_with_it(metric: str) -> None:
    # Backends score different candidate sets for the same item (a single search fetches a
    # margin, a batched one may not): the distance must come out bit for bit the same.
    # (With ``x @ q`` most rows here differed in the last bit between a 1-row and a 50-row
    # product.)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 384)).astype(np.float32)
    q = rng.normal(size=384).astype(np.float32)
    full = exact_distances(x, q, metric)
    for i in range(50):
        assert exact_distances(x[i : i + 1], q, metric)[0] == full[i]
        assert (exact_distances(x[i : i + 7], q, metric) == full[i : i + 7]).all()


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
@pytest.mark.parametrize("filtered", [False, True])
def test_query_keys_rank_rows_as_the_exact_order_does(metric: str, filtered: bool) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((600, 12)).astype(np.float32)
    vectors[300:400] = vectors[:100]  # equal distances: the ids must decide
    ids = [f"i{(i * 37) % 600:04d}" for i in range(600)]  # id order unrelated to position
    block = VectorBlock.build(np.arange(600, dtype=np.int64), ids, vectors)
    query = rng.standard_normal(12).astype(np.float32)
    allowed = rng.random(600) < 0.6 if filtered else None
    passing = np.arange(600) if allowed is None else np.flatnonzero(allowed)
    distances = exact_distances(vectors, query, metric)
    order = sorted(passing.tolist(), key=lambda p: (distances[p], ids[p]))
    want = {p: rank for rank, p in enumerate(order, start=1)}
    targets = np.array(order[::7][::-1], dtype=np.int64)
    keys = QueryKeys(block, query, metric, allowed)
    assert keys.usable
    ranks, target_distances = keys.ranks(targets)
    assert ranks.tolist() == [want[p] for p in targets.tolist()]
    assert target_distances.tolist() == distances[targets].tolist()
    # The same keys give rank_block's top k.
    for k in (1, 10, 250):
        want_top = ordered_hits(block, rank_block(block, query[None, :], metric, k, allowed)[0], k)
        assert ordered_hits(block, keys.top(k), k) == want_top


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_query_keys_rank_near_ties_that_float32_misorders(metric: str) -> None:
    # Rows one or two units in the last place apart: their float32 keys misorder them, so
    # every rank and the top k stand on the rows rescored within the rounding band (with no
    # band this fails for every metric).
    rng = np.random.default_rng(7)
    base = rng.standard_normal((8, 64)).astype(np.float32)
    vectors = np.repeat(base, 100, axis=0)
    nudge = rng.integers(-2, 3, size=vectors.shape).astype(np.float32)
    vectors = np.nextafter(vectors, vectors + nudge).astype(np.float32)
    ids = [f"i{(i * 211) % 800:04d}" for i in range(800)]
    block = VectorBlock.build(np.arange(800, dtype=np.int64), ids, vectors)
    query = rng.standard_normal(64).astype(np.float32)
    distances = exact_distances(vectors, query, metric)
    order = sorted(range(800), key=lambda p: (distances[p], ids[p]))
    want = {p: rank for rank, p in enumerate(order, start=1)}
    keys = QueryKeys(block, query, metric)
    targets = np.arange(0, 800, 3, dtype=np.int64)
    ranks, _ = keys.ranks(targets)
    assert ranks.tolist() == [want[p] for p in targets.tolist()]
    for k in (1, 30, 150):
        top = ordered_hits(block, keys.top(k), k)
        assert [h[2] for h in top] == order[:k]
    # A streamed scan: each chunk counts the rows before each (distance, id), wherever the
    # target lies; the sums are the ranks.
    before = np.zeros(len(targets), dtype=np.int64)
    target_ids = [ids[p] for p in targets.tolist()]
    for start in (0, 250, 600):
        stop = {0: 250, 250: 600, 600: 800}[start]
        chunk = VectorBlock.build(
            np.arange(start, stop, dtype=np.int64), ids[start:stop], vectors[start:stop]
        )
        before += QueryKeys(chunk, query, metric).closer_than(distances[targets], target_ids)
    assert (before + 1).tolist() == [want[p] for p in targets.tolist()]


@settings(max_examples=150, deadline=None)
@given(
    metric=st.sampled_from(["cosine", "l2", "ip"]),
    dims=st.integers(1, 48),
    vector_scale=st.integers(-75, 60),
    query_scale=st.integers(-75, 60),
    seed=st.integers(0, 2**32 - 1),
)
def test_keys_apart_by_more_than_tol_order_the_float64_distances(
    metric: str, dims: int, vector_scale: int, query_scale: int, seed: int
) -> None:
    # The bound of docs/ranking.md, on data from 2^-75 to 2^60 in scale: tiny scales make
    # float32 products underflow (the bound's subnormal term), copies of the query and near
    # copies make distances tie or nearly tie.
    rng = np.random.default_rng(seed)
    query = (rng.standard_normal(dims) * 2.0**query_scale).astype(np.float32)
    vectors = (rng.standard_normal((60, dims)) * 2.0**vector_scale).astype(np.float32)
    vectors[:6] = query
    vectors[6:12] = np.nextafter(query, np.float32(np.inf))
    block = VectorBlock.build(
        np.arange(60, dtype=np.int64), [f"i{i:02d}" for i in range(60)], vectors
    )
    keys = QueryKeys(block, query, metric)
    if not keys.usable:
        return  # float32 overflowed: the search ranks exactly instead
    assert keys.keyed is not None
    key, tol = keys.keyed
    distances = exact_distances(vectors, query, metric)
    apart = key.astype(np.float64)[:, None] < key.astype(np.float64)[None, :] - tol
    assert (distances[:, None] < distances[None, :])[apart].all()
