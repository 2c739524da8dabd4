"""search's order and size (contract §5): ties broken by id in byte order, with a filter too;
the limit and its default; a filter applied before ranking; empty results."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import nighdb

from ._helpers import BIG, TENANT, _check, ids, make

TIED_IDS = ["b", "B", "a", "A", "_", "Z", "é", "😀", "\ufffd", "a0", "a-", "10", "9"]


# Byte (code point) order, not case-insensitive or locale order; U+1F600 after U+FFFD.
TIED_ORDER = ["10", "9", "A", "B", "Z", "_", "a", "a-", "a0", "b", "é", "\ufffd", "😀"]


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_ties_are_broken_by_id_in_byte_order(
    store: nighdb.Store, metric: str, backend: str
) -> None:
    make(store, "docs", 3, metric=metric)
    store.upsert(TENANT, "docs", [{"id": i, "vector": [1.0, 2.0, 3.0]} for i in TIED_IDS])
    store.upsert(TENANT, "docs", [{"id": "far", "vector": [-1.0, -2.0, -3.5]}])
    assert ids(store.search(TENANT, "docs", [1.0, 2.0, 3.0], limit=BIG)) == [*TIED_ORDER, "far"]
    # The limit cuts inside the tie: the first ids in byte order are kept. An approximate
    # index (the indexed variants) may find other members of the tie: still `limit` of them,
    # in id order; exact=True keeps the exact answer.
    for limit, first in [(4, TIED_ORDER[:4]), (1, ["10"])]:
        got = ids(store.search(TENANT, "docs", [1.0, 2.0, 3.0], limit=limit))
        if backend.endswith("-indexed"):
            assert len(got) == limit and got == sorted(got) and set(got) <= set(TIED_ORDER)
            got = ids(store.search(TENANT, "docs", [1.0, 2.0, 3.0], limit=limit, exact=True))
        assert got == first


def test_ties_under_a_filter_are_broken_by_id(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": i, "vector": [1.0, 1.0], "metadata": {"keep": n % 2 == 0}}
            for n, i in enumerate(TIED_IDS)
        ],
    )
    kept = sorted(i for n, i in enumerate(TIED_IDS) if n % 2 == 0)
    got = store.search(TENANT, "docs", [1.0, 1.0], limit=3, filter={"keep": True})
    assert ids(got) == kept[:3]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(0, 10), (-1, 10), (-100, 10), (1, 1), (3, 3), (15, 15), (16, 15), (BIG, 15)],
)
def test_limit(store: nighdb.Store, limit: int, expected: int) -> None:
    make(store, "docs", 2, metric="l2")
    store.upsert(
        TENANT, "docs", [{"id": f"i{n:02d}", "vector": [float(n), 0.0]} for n in range(15)]
    )
    got = store.search(TENANT, "docs", [0.0, 0.0], limit=limit)
    assert ids(got) == [f"i{n:02d}" for n in range(expected)]
    many = store.search_many(TENANT, "docs", [[0.0, 0.0], [14.0, 0.0]], limit=limit)
    assert [len(r) for r in many] == [expected, expected]


def test_default_limit_is_10(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="l2")
    store.upsert(
        TENANT, "docs", [{"id": f"i{n:02d}", "vector": [float(n), 0.0]} for n in range(15)]
    )
    assert ids(store.search(TENANT, "docs", [0.0, 0.0])) == [f"i{n:02d}" for n in range(10)]
    assert [len(r) for r in store.search_many(TENANT, "docs", [[0.0, 0.0]])] == [10]


def test_filter_applies_before_ranking(store: nighdb.Store) -> None:
    # 993 items close to the query, 7 far away; a filter selecting the far ones must still
    # return all 7 (top-min(limit, matches)), in distance order.
    dims = 8
    make(store, "docs", dims)
    rng = np.random.default_rng(3)
    near = np.zeros((993, dims))
    near[:, 0] = 1.0
    near[:, 1:] = rng.uniform(-0.05, 0.05, (993, dims - 1))
    items: list[dict[str, Any]] = [
        {"id": f"near-{n:04d}", "vector": near[n], "metadata": {"group": "near"}}
        for n in range(993)
    ]
    for k in range(1, 8):
        vector = [-1.0, 0.1 * k] + [0.0] * (dims - 2)
        items.append({"id": f"far-{k}", "vector": vector, "metadata": {"group": "far"}})
    store.upsert(TENANT, "docs", items)
    query = [1.0] + [0.0] * (dims - 1)

    def far_distance(k: int) -> float:
        return 1.0 + 1.0 / math.sqrt(1.0 + 0.01 * k * k)

    expected = [(f"far-{k}", far_distance(k), 1.0 - far_distance(k)) for k in range(7, 0, -1)]
    _check(store.search(TENANT, "docs", query, limit=10, filter={"group": "far"}), expected)
    _check(store.search(TENANT, "docs", query, limit=3, filter={"group": "far"}), expected[:3])
    _check(store.search(TENANT, "docs", query, limit=0, filter={"group": "far"}), expected)
    # Without the filter the near items win.
    unfiltered = ids(store.search(TENANT, "docs", query, limit=10))
    assert len(unfiltered) == 10
    assert all(i.startswith("near-") for i in unfiltered)
    # An id filter mixing near and far.
    mixed = store.search(TENANT, "docs", query, limit=10, filter={"id": ["far-1", "near-0000"]})
    assert ids(mixed) == ["near-0000", "far-1"]


def test_empty_collection_or_no_match_returns_empty(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    assert store.search(TENANT, "docs", [1.0, 0.0]) == []
    assert store.search_many(TENANT, "docs", [[1.0, 0.0], [0.0, 1.0]]) == [[], []]
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [1.0, 0.0], "metadata": {"k": 1}}])
    assert store.search(TENANT, "docs", [1.0, 0.0], filter={"k": 2}) == []
    assert store.search_many(TENANT, "docs", [[1.0, 0.0]], filter={"k": 2}) == [[]]
    store.delete(TENANT, "docs", ["x"])
    assert store.search(TENANT, "docs", [1.0, 0.0]) == []
