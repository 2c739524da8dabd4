"""search under the three metrics (contract §1, §5): distances and scores on hand-computed
data, cosine within [0, 2], a zero query under l2, and every kind of query vector."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import nighdb

from ._helpers import BIG, SQRT2, TENANT, _check, ids, make


def test_cosine_distance_and_score(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="cosine")
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "d", "vector": [-1.0, 0.0]},
            {"id": "b", "vector": [0.0, 1.0]},
            {"id": "e", "vector": [3.0, 0.0]},  # same direction as a: distance 0 too
            {"id": "c", "vector": [1.0, 1.0]},
            {"id": "a", "vector": [1.0, 0.0]},
        ],
    )
    c = 1.0 - 1.0 / SQRT2
    _check(
        store.search(TENANT, "docs", [2.0, 0.0]),
        [
            ("a", 0.0, 1.0),
            ("e", 0.0, 1.0),
            ("c", c, 1.0 - c),
            ("b", 1.0, 0.0),
            ("d", 2.0, -1.0),
        ],
    )
    # Another query: [1, 1]. a and b are exact ties (mirror images); e (= 3a) is left out
    # because 3/(3*sqrt2) and 1/sqrt2 may differ in the last bit on some backends.
    _check(
        store.search(TENANT, "docs", [1.0, 1.0], filter={"id": {"ne": "e"}}),
        [
            ("c", 0.0, 1.0),
            ("a", c, 1.0 - c),
            ("b", c, 1.0 - c),
            ("d", 1.0 + 1.0 / SQRT2, -1.0 / SQRT2),
        ],
    )


def test_cosine_distance_stays_within_0_and_2(store: nighdb.Store) -> None:
    make(store, "docs", 7)
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((50, 7)) * rng.uniform(1e-3, 1e3, (50, 1))
    store.upsert(TENANT, "docs", [{"id": f"v{n:02d}", "vector": v} for n, v in enumerate(vectors)])
    for n, v in enumerate(vectors):
        same = store.search(TENANT, "docs", v, limit=BIG)
        assert all(0.0 <= m.distance <= 2.0 for m in same)
        assert same[0].distance == pytest.approx(0.0, abs=1e-6)
        assert f"v{n:02d}" in ids([m for m in same if m.distance <= 1e-6])
        opposite = store.search(TENANT, "docs", -v, limit=BIG)
        assert all(0.0 <= m.distance <= 2.0 for m in opposite)
        assert opposite[-1].distance == pytest.approx(2.0, abs=1e-6)
        assert opposite[-1].score == pytest.approx(-1.0, abs=1e-6)


def test_l2_distance_and_score(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="l2")
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "a", "vector": [0.0, 0.0]},
            {"id": "b", "vector": [3.0, 4.0]},
            {"id": "c", "vector": [1.0, 1.0]},
            {"id": "d", "vector": [-1.0, 0.0]},
        ],
    )
    _check(
        store.search(TENANT, "docs", [0.0, 0.0]),
        [("a", 0.0, -0.0), ("d", 1.0, -1.0), ("c", SQRT2, -SQRT2), ("b", 5.0, -5.0)],
    )
    _check(
        store.search(TENANT, "docs", [1.0, 0.0]),
        [
            ("a", 1.0, -1.0),
            ("c", 1.0, -1.0),
            ("d", 2.0, -2.0),
            ("b", math.sqrt(20.0), -math.sqrt(20.0)),
        ],
    )


def test_ip_distance_and_score(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="ip")
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "a", "vector": [1.0, 2.0]},
            {"id": "b", "vector": [3.0, 0.0]},
            {"id": "c", "vector": [-1.0, -1.0]},
            {"id": "d", "vector": [0.0, 0.0]},
            {"id": "e", "vector": [10.0, 10.0]},
        ],
    )
    _check(
        store.search(TENANT, "docs", [1.0, 1.0]),
        [("e", -20.0, 20.0), ("a", -3.0, 3.0), ("b", -3.0, 3.0), ("d", 0.0, 0.0), ("c", 2.0, -2.0)],
    )
    # A zero query is a valid ip query: every distance is 0, so ids decide.
    _check(
        store.search(TENANT, "docs", [0.0, 0.0]),
        [(i, 0.0, 0.0) for i in ["a", "b", "c", "d", "e"]],
    )


def test_zero_query_is_valid_under_l2(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [2.0, 3.0, 6.0]}])
    _check(store.search(TENANT, "docs", [0.0, 0.0, 0.0]), [("x", 7.0, -7.0)])


def test_query_kinds(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [2.0, 3.0, 6.0]}])
    queries: list[Any] = [
        [0, 0, 0],
        (0.0, 0.0, 0.0),
        np.zeros(3, dtype=np.float32),
        np.zeros(3, dtype=np.float64),
    ]
    for q in queries:
        _check(store.search(TENANT, "docs", q), [("x", 7.0, -7.0)])
