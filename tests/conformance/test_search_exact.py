"""search is exact by default (contract §5, §15): the true top-k against a float64 oracle on
thousands of random vectors, and search_many of many queries equal to one search per query
on every batched path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb

from ._helpers import TENANT, ids, make


def _oracle(vectors: Any, query: Any, metric: str) -> Any:
    """Brute-force distances in float64 over the float32 values a store keeps."""
    x = np.asarray(vectors, dtype=np.float32).astype(np.float64)
    q = np.asarray(query, dtype=np.float32).astype(np.float64)
    if metric == "l2":
        return np.sqrt(((x - q) ** 2).sum(axis=1))
    if metric == "ip":
        return -(x @ q)
    return 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_search_is_exact(store: nighdb.Store, metric: str, backend: str) -> None:
    # contract §5: exact by default. Every returned distance is the true one, and the list is the
    # true top-k (positions may only swap between distances equal to 1e-6). On the indexed
    # variants (tests/indexed_store.py) exact=True must give the same, ignoring the index (§15).
    exact = {"exact": True} if backend.endswith("-indexed") else {}
    n, dims, k = 3000, 32, 25
    make(store, "docs", dims, metric=metric)
    rng = np.random.default_rng(2024)
    vectors = rng.standard_normal((n, dims)) * rng.uniform(0.5, 2.0, (n, 1))
    store.upsert(
        TENANT,
        "docs",
        [{"id": f"v{i:04d}", "vector": vectors[i], "metadata": {"b": i % 7}} for i in range(n)],
    )
    queries = rng.standard_normal((4, dims))
    for flt, rows in [(None, np.arange(n)), ({"b": 3}, np.arange(3, n, 7))]:
        for query, got in zip(
            queries,
            store.search_many(TENANT, "docs", queries, limit=k, filter=flt, **exact),
            strict=True,
        ):
            truth = _oracle(vectors[rows], query, metric)
            order = np.argsort(truth, kind="stable")[:k]
            assert len(got) == k
            assert [m.distance for m in got] == pytest.approx(truth[order].tolist(), abs=1e-5)
            by_id = {f"v{rows[j]:04d}": truth[j] for j in range(len(rows))}
            for m in got:
                assert m.distance == pytest.approx(by_id[m.id], abs=1e-5)
            assert len(set(ids(got))) == k


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
@pytest.mark.parametrize("flt", [None, {"g": {"lt": 2}}, {"g": 9}])
@pytest.mark.parametrize("limit", [1, 7, 400])
def test_search_many_of_many_queries_equals_one_by_one(
    store: nighdb.Store, metric: str, flt: dict[str, Any] | None, limit: int
) -> None:
    # Enough queries and rows for every batched path (the PostgreSQL backend streams the
    # collection once for 32+ exact queries), with exact ties: each vector is stored twice.
    make(store, "docs", 6, metric=metric)
    rng = np.random.default_rng(limit)
    vectors = rng.normal(size=(150, 6)).astype(np.float32)
    items = [
        {"id": f"{prefix}{n:03d}", "vector": vectors[n], "metadata": {"g": n % 7}}
        for prefix in ("a", "b")
        for n in range(150)
    ]
    store.upsert(TENANT, "docs", items)
    queries = np.vstack([rng.normal(size=(38, 6)), vectors[:2]]).astype(np.float32)
    many = store.search_many(TENANT, "docs", queries, limit=limit, filter=flt)
    single = [store.search(TENANT, "docs", q, limit=limit, filter=flt) for q in queries]
    assert many == single
    if flt is None:
        matches = 300
    else:
        matches = 2 * sum(1 for n in range(150) if (n % 7 < 2 if flt["g"] == {"lt": 2} else False))
    assert all(len(r) == min(limit, matches) for r in many)
