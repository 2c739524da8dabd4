"""search_many (contract §5): the same answers as one search per query, from lists or a 2-D
numpy array, none for no queries, and a repeated query answered twice."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Match

from ._helpers import TENANT, ids, make


def _seed_many(store: nighdb.Store) -> list[list[float]]:
    make(store, "docs", 4)
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((200, 4))
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": f"v{n:03d}", "vector": vectors[n], "metadata": {"odd": n % 2 == 1}}
            for n in range(200)
        ],
    )
    queries: list[list[float]] = rng.standard_normal((5, 4)).tolist()
    return queries


def _same(a: list[Match], b: list[Match]) -> None:
    assert ids(a) == ids(b)
    for x, y in zip(a, b, strict=True):
        assert x.distance == pytest.approx(y.distance, abs=1e-6)
        assert x.score == pytest.approx(y.score, abs=1e-6)
        assert (x.metadata, x.text) == (y.metadata, y.text)


def test_search_many_equals_individual_searches(store: nighdb.Store) -> None:
    queries = _seed_many(store)
    for flt in [None, {"odd": True}]:
        many = store.search_many(TENANT, "docs", queries, limit=7, filter=flt)
        assert len(many) == len(queries)
        for q, got in zip(queries, many, strict=True):
            assert len(got) == 7
            _same(got, store.search(TENANT, "docs", q, limit=7, filter=flt))
            if flt is not None:
                assert all(m.metadata == {"odd": True} for m in got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_search_many_accepts_a_2d_numpy_array(store: nighdb.Store, dtype: Any) -> None:
    queries = _seed_many(store)
    matrix = np.array(queries, dtype=dtype)
    many = store.search_many(TENANT, "docs", matrix, limit=5)
    assert len(many) == 5
    for q, got in zip(queries, many, strict=True):
        _same(got, store.search(TENANT, "docs", q, limit=5))
    # A list of 1-D arrays too.
    rows = store.search_many(TENANT, "docs", [row for row in matrix], limit=5)
    assert [ids(r) for r in rows] == [ids(r) for r in many]


def test_search_many_with_no_queries_returns_empty(store: nighdb.Store) -> None:
    _seed_many(store)
    assert store.search_many(TENANT, "docs", []) == []
    assert store.search_many(TENANT, "docs", np.empty((0, 4))) == []


def test_search_many_repeated_query(store: nighdb.Store) -> None:
    queries = _seed_many(store)
    many = store.search_many(TENANT, "docs", [queries[0], queries[0]], limit=3)
    assert ids(many[0]) == ids(many[1])
    assert len(many[0]) == 3
