"""Check order (contract §2, §12): tenant and name first, then existence, then items/query/filter.

A caller who writes to a collection that does not exist learns *that*, whatever else is
wrong with the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import CollectionNotFoundError, InvalidArgumentError

from ._helpers import TENANT, make, raises

NAN = float("nan")

Call = Callable[[nighdb.Store, Any, Any], object]
NOT_ITEMS: list[Any] = [5, None]  # a batch of the wrong type, on purpose
NOT_A_BOOL: Any = "yes"

# Every data method, called with arguments that would be invalid for any collection.
GARBAGE_CALLS: dict[str, Call] = {
    "count": lambda s, t, c: s.count(t, c),
    "upsert-empty-batch": lambda s, t, c: s.upsert(t, c, []),
    "upsert-empty-id": lambda s, t, c: s.upsert(t, c, [{"id": "", "vector": [1.0]}]),
    "upsert-wrong-dims": lambda s, t, c: s.upsert(t, c, [{"id": "a", "vector": [1.0] * 9}]),
    "upsert-bad-metadata": lambda s, t, c: s.upsert(
        t, c, [{"id": "a", "vector": [1.0, 0.0], "metadata": ["not", "an", "object"]}]
    ),
    "upsert-not-items": lambda s, t, c: s.upsert(t, c, NOT_ITEMS),
    "search": lambda s, t, c: s.search(t, c, [1.0, 0.0]),
    "search-zero": lambda s, t, c: s.search(t, c, [0.0, 0.0]),
    "search-wrong-dims": lambda s, t, c: s.search(t, c, [1.0] * 9),
    "search-null-filter-operand": lambda s, t, c: s.search(t, c, [1.0, 0.0], filter={"f": None}),
    "search-unknown-operator": lambda s, t, c: s.search(
        t, c, [1.0, 0.0], filter={"f": {"regex": "x"}}
    ),
    "search-unknown-combinator": lambda s, t, c: s.search(
        t, c, [1.0, 0.0], filter={"$xor": [{"f": 1}]}
    ),
    "search_many": lambda s, t, c: s.search_many(t, c, [[1.0, 0.0]]),
    "search_many-none": lambda s, t, c: s.search_many(t, c, []),
    "search_many-bad-rows": lambda s, t, c: s.search_many(t, c, [[0.0], [1.0, 2.0, 3.0]]),
    "search_many-numpy-wrong-dims": lambda s, t, c: s.search_many(t, c, np.ones((2, 9))),
    "search_many-bad-filter": lambda s, t, c: s.search_many(t, c, [[1.0, 0.0]], filter={"f": {}}),
    "search-bad-ef_search": lambda s, t, c: s.search(t, c, [1.0, 0.0], ef_search=0),
    "search-bad-exact": lambda s, t, c: s.search(t, c, [1.0, 0.0], exact=NOT_A_BOOL),
    "search_many-bad-ef_search": lambda s, t, c: s.search_many(t, c, [[1.0]], ef_search=10**6),
    "create_index": lambda s, t, c: s.create_index(t, c),
    "create_index-bad-options": lambda s, t, c: s.create_index(t, c, m=0, ef_construction=1),
    "describe_index": lambda s, t, c: s.describe_index(t, c),
    "drop_index": lambda s, t, c: s.drop_index(t, c),
    "delete": lambda s, t, c: s.delete(t, c, ["a"]),
    "delete-empty": lambda s, t, c: s.delete(t, c, []),
    "delete-invalid-ids": lambda s, t, c: s.delete(t, c, ["", "a\x00b"]),
    "list_ids": lambda s, t, c: s.list_ids(t, c),
    "list_ids-limit-0": lambda s, t, c: s.list_ids(t, c, limit=0),
    "list_ids-paged": lambda s, t, c: s.list_ids(t, c, after="a", limit=5),
    # contract §13: operations by filter and partial updates
    "count-filter": lambda s, t, c: s.count(t, c, filter={"f": 1}),
    "count-bad-filter": lambda s, t, c: s.count(t, c, filter={"f": None}),
    "delete-filter": lambda s, t, c: s.delete(t, c, filter={}),
    "delete-bad-filter": lambda s, t, c: s.delete(t, c, filter={"$xor": []}),
    "delete-neither": lambda s, t, c: s.delete(t, c),
    "delete-both": lambda s, t, c: s.delete(t, c, ["a"], filter={}),
    "list_ids-filter": lambda s, t, c: s.list_ids(t, c, filter={"f": {"gt": 1}}),
    "list_ids-bad-filter": lambda s, t, c: s.list_ids(t, c, limit=2, filter={"f": {}}),
    "scroll": lambda s, t, c: s.scroll(t, c),
    "scroll-limit-0": lambda s, t, c: s.scroll(t, c, limit=0),
    "scroll-bad-filter": lambda s, t, c: s.scroll(t, c, filter={"f": {"regex": "x"}}),
    "update": lambda s, t, c: s.update(t, c, [{"id": "a", "text": "x"}]),
    "update-empty": lambda s, t, c: s.update(t, c, []),
    "update-empty-patch": lambda s, t, c: s.update(t, c, [{"id": "a"}]),
    "update-wrong-dims": lambda s, t, c: s.update(t, c, [{"id": "a", "vector": [1.0] * 9}]),
    "update-both-metadata": lambda s, t, c: s.update(
        t, c, [{"id": "a", "metadata": {}, "metadata_patch": {}}]
    ),
    "update-not-patches": lambda s, t, c: s.update(t, c, NOT_ITEMS),
}


# Values JSON cannot carry: the one case where a backend may validate before the existence
# check (contract §12: the remote client rejects them before any request).
NON_JSON_CALLS: dict[str, Call] = {
    "upsert-nan": lambda s, t, c: s.upsert(t, c, [{"id": "a", "vector": [NAN, NAN]}]),
    "upsert-inf-metadata": lambda s, t, c: s.upsert(
        t, c, [{"id": "a", "vector": [1.0, 0.0], "metadata": {"x": float("inf")}}]
    ),
    "search-nan": lambda s, t, c: s.search(t, c, [NAN, 1.0]),
    "search_many-inf": lambda s, t, c: s.search_many(t, c, [[float("-inf"), 1.0]]),
    "search-nan-filter": lambda s, t, c: s.search(t, c, [1.0, 0.0], filter={"f": NAN}),
    "count-nan-filter": lambda s, t, c: s.count(t, c, filter={"f": NAN}),
    "delete-nan-filter": lambda s, t, c: s.delete(t, c, filter={"f": {"lt": NAN}}),
    "scroll-nan-filter": lambda s, t, c: s.scroll(t, c, filter={"f": NAN}),
    "update-nan-vector": lambda s, t, c: s.update(t, c, [{"id": "a", "vector": [NAN, 1.0]}]),
    "update-inf-patch": lambda s, t, c: s.update(
        t, c, [{"id": "a", "metadata_patch": {"x": float("inf")}}]
    ),
}


@pytest.mark.parametrize("call", NON_JSON_CALLS.values(), ids=NON_JSON_CALLS.keys())
def test_non_json_values_on_a_missing_collection(store: nighdb.Store, call: Call) -> None:
    make(store, "other")
    with pytest.raises((CollectionNotFoundError, InvalidArgumentError)) as info:
        call(store, TENANT, "missing")
    assert info.value.code in ("collection_not_found", "invalid_argument")
    assert store.describe_collection(TENANT, "missing") is None
    with raises(InvalidArgumentError):  # invalid tenant: still the first check
        call(store, "", "missing")


@pytest.mark.parametrize("call", GARBAGE_CALLS.values(), ids=GARBAGE_CALLS.keys())
def test_missing_collection_is_reported_before_validation(store: nighdb.Store, call: Call) -> None:
    make(store, "other")  # the tenant exists; the collection does not
    with raises(CollectionNotFoundError) as info:
        call(store, TENANT, "missing")
    assert info.value.tenant == TENANT
    assert info.value.collection == "missing"
    assert store.describe_collection(TENANT, "missing") is None


@pytest.mark.parametrize("call", GARBAGE_CALLS.values(), ids=GARBAGE_CALLS.keys())
def test_collection_of_another_tenant_is_not_found(store: nighdb.Store, call: Call) -> None:
    make(store, "docs", tenant="someone-else")
    with raises(CollectionNotFoundError) as info:
        call(store, TENANT, "docs")
    assert (info.value.tenant, info.value.collection) == (TENANT, "docs")


@pytest.mark.parametrize("call", GARBAGE_CALLS.values(), ids=GARBAGE_CALLS.keys())
@pytest.mark.parametrize(
    ("tenant", "name"),
    [("", "missing"), (TENANT, ""), ("t\x00", "missing"), (TENANT, "x" * 257)],
    ids=["empty-tenant", "empty-name", "nul-tenant", "long-name"],
)
def test_tenant_and_name_are_checked_before_existence(
    store: nighdb.Store, call: Call, tenant: str, name: str
) -> None:
    with raises(InvalidArgumentError):
        call(store, tenant, name)
    assert store.list_tenants() == []


def test_dropped_collection_is_not_found(store: nighdb.Store) -> None:
    make(store, "docs")
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0]}])
    store.drop_collection(TENANT, "docs")
    for call in GARBAGE_CALLS.values():
        with raises(CollectionNotFoundError):
            call(store, TENANT, "docs")
