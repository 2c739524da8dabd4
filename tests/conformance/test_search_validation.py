"""search and search_many refuse bad queries (contract §12): a wrong length is a dimension
mismatch, non-finite values and a zero query under cosine are invalid arguments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import DimensionMismatchError, InvalidArgumentError

from ._helpers import TENANT, make, raises


@pytest.mark.parametrize("query", [[1.0], [1.0, 2.0, 3.0, 4.0], [], np.ones(5)])
def test_query_of_the_wrong_length_is_a_dimension_mismatch(store: nighdb.Store, query: Any) -> None:
    make(store, "docs", 3)
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [1.0, 2.0, 3.0]}])
    with raises(DimensionMismatchError) as info:
        store.search(TENANT, "docs", query)
    assert (info.value.collection, info.value.expected, info.value.got) == ("docs", 3, len(query))
    with raises(DimensionMismatchError) as info:
        store.search_many(TENANT, "docs", [[1.0, 2.0, 3.0], query])
    assert (info.value.expected, info.value.got) == (3, len(query))


def test_search_many_numpy_of_the_wrong_width_is_a_dimension_mismatch(
    store: nighdb.Store,
) -> None:
    make(store, "docs", 3)
    with raises(DimensionMismatchError) as info:
        store.search_many(TENANT, "docs", np.ones((2, 4)))
    assert (info.value.expected, info.value.got) == (3, 4)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "query",
    [
        [NAN, 1.0, 0.0],
        [INF, 1.0, 0.0],
        [0.0, -INF, 1.0],
        [1e39, 0.0, 0.0],
        ["a", "b", "c"],
        "abc",
        None,
    ],
    ids=["nan", "inf", "-inf", "f32-overflow", "strings", "string", "none"],
)
def test_invalid_query_values(store: nighdb.Store, query: Any) -> None:
    make(store, "docs", 3, metric="l2")
    with raises(InvalidArgumentError):
        store.search(TENANT, "docs", query)
    with raises(InvalidArgumentError):
        store.search_many(TENANT, "docs", [[1.0, 2.0, 3.0], query])


def test_zero_query_is_invalid_under_cosine(store: nighdb.Store) -> None:
    make(store, "docs", 3)
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [1.0, 2.0, 3.0]}])
    with raises(InvalidArgumentError):
        store.search(TENANT, "docs", [0.0, 0.0, 0.0])
    with raises(InvalidArgumentError):
        store.search_many(TENANT, "docs", [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with raises(InvalidArgumentError):
        store.search_many(TENANT, "docs", np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))


def test_nan_in_a_numpy_batch_is_invalid(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    with raises(InvalidArgumentError):
        store.search_many(TENANT, "docs", np.array([[1.0, 0.0, 0.0], [NAN, 0.0, 0.0]]))
