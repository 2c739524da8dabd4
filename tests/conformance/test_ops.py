"""Operations by filter and partial updates (contract §13), identical on every backend.

``count``/``delete``/``list_ids`` with a filter, ``scroll`` and ``update``: what each returns,
what it changes and what it refuses (and that a refusal changes nothing).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import DimensionMismatchError, InvalidArgumentError

from ._helpers import BIG, TENANT, ids, make, matching, raises

ITEMS: list[dict[str, Any]] = [
    {"id": "a", "vector": [1.0, 0.0], "metadata": {"doc": "x", "n": 1}, "text": "ta"},
    {"id": "b", "vector": [0.0, 1.0], "metadata": {"doc": "x", "n": 2}, "text": "tb"},
    {"id": "c", "vector": [1.0, 1.0], "metadata": {"doc": "y", "n": 3}},
    {"id": "d", "vector": [-1.0, 0.5], "metadata": {"n": 4}},
    {"id": "e", "vector": [0.3, -1.0]},
]


def _filled(store: nighdb.Store, name: str = "docs") -> None:
    make(store, name)
    store.upsert(TENANT, name, ITEMS)


def _state(store: nighdb.Store) -> dict[str, tuple[list[float], dict[str, Any], str]]:
    items = store.scroll(TENANT, "docs", limit=BIG)
    return {i.id: (np.asarray(i.vector).tolist(), dict(i.metadata), i.text) for i in items}


def _vector(item: nighdb.Item) -> np.ndarray[Any, np.dtype[Any]]:
    assert isinstance(item.vector, np.ndarray)
    return item.vector


# -- count ---------------------------------------------------------------------------------


def test_count_by_filter(store: nighdb.Store) -> None:
    _filled(store)
    assert store.count(TENANT, "docs") == 5
    assert store.count(TENANT, "docs", filter=None) == 5
    assert store.count(TENANT, "docs", filter={}) == 5
    assert store.count(TENANT, "docs", filter={"doc": "x"}) == 2
    assert store.count(TENANT, "docs", filter={"n": {"gte": 2}, "doc": {"exists": True}}) == 2
    assert store.count(TENANT, "docs", filter={"doc": {"ne": "x"}}) == 3
    assert store.count(TENANT, "docs", filter={"id": ["a", "e", "zz"]}) == 2
    assert store.count(TENANT, "docs", filter={"$or": []}) == 0


def test_count_refuses_a_bad_filter(store: nighdb.Store) -> None:
    _filled(store)
    with raises(InvalidArgumentError):
        store.count(TENANT, "docs", filter={"doc": None})


# -- delete --------------------------------------------------------------------------------


def test_delete_by_filter_removes_exactly_the_matches(store: nighdb.Store) -> None:
    _filled(store)
    assert store.delete(TENANT, "docs", filter={"doc": "x"}) == 2
    assert sorted(store.list_ids(TENANT, "docs")) == ["c", "d", "e"]
    assert matching(store, None) == {"c", "d", "e"}  # search sees it at once
    assert store.delete(TENANT, "docs", filter={"doc": "x"}) == 0  # nothing left to match


def test_delete_with_the_empty_filter_empties_and_keeps_the_collection(
    store: nighdb.Store,
) -> None:
    _filled(store)
    assert store.delete(TENANT, "docs", filter={}) == 5
    assert store.count(TENANT, "docs") == 0
    assert store.describe_collection(TENANT, "docs") is not None
    assert store.search(TENANT, "docs", [1.0, 0.0]) == []
    store.upsert(TENANT, "docs", ITEMS[:1])  # still usable
    assert store.list_ids(TENANT, "docs") == ["a"]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((["a"],), {"filter": {}}), ((None,), {"filter": None})],
    ids=["neither", "both", "explicit-nones"],
)
def test_delete_needs_exactly_one_of_ids_and_filter(
    store: nighdb.Store, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    _filled(store)
    with raises(InvalidArgumentError) as info:
        store.delete(TENANT, "docs", *args, **kwargs)
    assert "exactly one of ids" in str(info.value)
    assert store.count(TENANT, "docs") == 5


def test_delete_by_a_bad_filter_deletes_nothing(store: nighdb.Store) -> None:
    _filled(store)
    with raises(InvalidArgumentError):
        store.delete(TENANT, "docs", filter={"$or": [{"doc": "x"}, {"n": {"regex": "."}}]})
    assert store.count(TENANT, "docs") == 5


def test_delete_by_ids_keeps_working(store: nighdb.Store) -> None:
    _filled(store)
    assert store.delete(TENANT, "docs", ["a", "a", "zz"]) == 1
    assert store.delete(TENANT, "docs", ids=["b"]) == 1
    assert store.delete(TENANT, "docs", []) == 0


# -- list_ids and scroll -------------------------------------------------------------------


def test_list_ids_by_filter_with_and_without_paging(store: nighdb.Store) -> None:
    _filled(store)
    assert sorted(store.list_ids(TENANT, "docs", filter={"n": {"lte": 3}})) == ["a", "b", "c"]
    assert store.list_ids(TENANT, "docs", filter={"n": {"lte": 3}}, limit=2) == ["a", "b"]
    assert store.list_ids(TENANT, "docs", filter={"n": {"lte": 3}}, after="a", limit=5) == [
        "b",
        "c",
    ]
    assert store.list_ids(TENANT, "docs", filter={"doc": "nope"}, limit=5) == []


def test_scroll_pages_whole_items_in_id_order(store: nighdb.Store) -> None:
    _filled(store)
    first = store.scroll(TENANT, "docs", limit=2)
    assert [i.id for i in first] == ["a", "b"]
    assert first[0].metadata == {"doc": "x", "n": 1}
    assert first[0].text == "ta"
    assert _vector(first[0]).dtype == np.float32
    assert _vector(first[0]).tolist() == [1.0, 0.0]
    rest = store.scroll(TENANT, "docs", after="b", limit=10)
    assert [i.id for i in rest] == ["c", "d", "e"]
    assert rest[-1].metadata == {}
    assert rest[-1].text == ""
    assert store.scroll(TENANT, "docs", after="e") == []
    assert [i.id for i in store.scroll(TENANT, "docs")] == ["a", "b", "c", "d", "e"]


def test_scroll_by_filter_matches_fetch(store: nighdb.Store) -> None:
    _filled(store)
    got = store.scroll(TENANT, "docs", filter={"n": {"gt": 1}}, limit=2)
    assert [i.id for i in got] == ["b", "c"]
    fetched = store.fetch(TENANT, "docs", ["b", "c"])
    for a, b in zip(got, fetched, strict=True):
        assert (a.id, a.metadata, a.text) == (b.id, b.metadata, b.text)
        assert _vector(a).tobytes() == _vector(b).tobytes()
    assert [i.id for i in store.scroll(TENANT, "docs", filter={"n": {"gt": 1}}, after="c")] == ["d"]


@pytest.mark.parametrize("limit", [0, -1, None, 1.5, True], ids=str)
def test_scroll_limit_must_be_a_positive_integer(store: nighdb.Store, limit: Any) -> None:
    _filled(store)
    with raises(InvalidArgumentError):
        store.scroll(TENANT, "docs", limit=limit)


def test_scroll_of_an_empty_collection(store: nighdb.Store) -> None:
    make(store)
    assert store.scroll(TENANT, "docs") == []
    assert store.count(TENANT, "docs", filter={"x": 1}) == 0


# -- update --------------------------------------------------------------------------------


def test_update_replaces_only_the_named_fields(store: nighdb.Store) -> None:
    _filled(store)
    before = _state(store)
    assert store.update(TENANT, "docs", [{"id": "a", "text": "new"}]) == 1
    after = _state(store)
    assert after["a"] == (before["a"][0], before["a"][1], "new")
    assert {k: v for k, v in after.items() if k != "a"} == {
        k: v for k, v in before.items() if k != "a"
    }
    store.update(TENANT, "docs", [{"id": "b", "metadata": {"only": True}}])
    assert _state(store)["b"] == (before["b"][0], {"only": True}, "tb")


def test_update_of_a_vector_is_what_search_ranks(store: nighdb.Store) -> None:
    _filled(store)
    assert ids(store.search(TENANT, "docs", [-1.0, -1.0], limit=1)) != ["a"]
    store.update(TENANT, "docs", [{"id": "a", "vector": np.array([-1.0, -1.0])}])
    top = store.search(TENANT, "docs", [-1.0, -1.0], limit=1)
    assert ids(top) == ["a"]
    assert top[0].distance == pytest.approx(0.0, abs=1e-6)
    assert top[0].metadata == {"doc": "x", "n": 1}
    assert _vector(store.fetch(TENANT, "docs", ["a"])[0]).tolist() == [-1.0, -1.0]


def test_metadata_patch_merges_at_the_top_level(store: nighdb.Store) -> None:
    make(store)
    meta = {"keep": 1, "drop": "x", "nested": {"a": 1, "b": 2}, "swap": [1, 2]}
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": meta}])
    patch = {"drop": None, "nested": {"b": None, "c": 3}, "swap": "s", "new": 2.5, "gone": None}
    store.update(TENANT, "docs", [{"id": "a", "metadata_patch": patch}])
    got = store.fetch(TENANT, "docs", ["a"])[0].metadata
    # A nested object is a value: it replaces the stored one whole, nulls inside it kept.
    assert got == {"keep": 1, "nested": {"b": None, "c": 3}, "swap": "s", "new": 2.5}


def test_filters_see_updated_metadata(store: nighdb.Store) -> None:
    _filled(store)
    store.update(
        TENANT,
        "docs",
        [{"id": "a", "metadata_patch": {"doc": "z", "n": 10.0}}, {"id": "e", "metadata": {"n": 7}}],
    )
    assert matching(store, {"doc": "z"}) == {"a"}
    assert matching(store, {"n": 10}) == {"a"}
    assert store.count(TENANT, "docs", filter={"doc": "x"}) == 1
    assert store.list_ids(TENANT, "docs", filter={"n": {"gt": 5}}, limit=10) == ["a", "e"]
    assert store.delete(TENANT, "docs", filter={"n": {"gt": 5}}) == 2


def test_patches_of_one_id_apply_in_order(store: nighdb.Store) -> None:
    _filled(store)
    patches: list[dict[str, Any]] = [
        {"id": "a", "metadata_patch": {"step": 1, "doc": None}},
        {"id": "b", "text": "b1"},
        {"id": "a", "metadata_patch": {"step": 2}, "text": "a1"},
        {"id": "a", "text": "a2", "vector": [0.0, 2.0]},
        {"id": "b", "metadata": {"m": 1}},
        {"id": "b", "metadata_patch": {"m": 2, "k": "v"}},
    ]
    assert store.update(TENANT, "docs", patches) == 6  # len(patches), repeats included
    state = _state(store)
    assert state["a"] == ([0.0, 2.0], {"n": 1, "step": 2}, "a2")
    assert state["b"] == ([0.0, 1.0], {"m": 2, "k": "v"}, "b1")


def test_update_of_an_unknown_id_writes_nothing(store: nighdb.Store) -> None:
    _filled(store)
    before = _state(store)
    with raises(InvalidArgumentError) as info:
        store.update(TENANT, "docs", [{"id": "a", "text": "changed"}, {"id": "zz", "text": "x"}])
    assert "'zz'" in str(info.value)
    assert "does not exist" in str(info.value)
    assert _state(store) == before


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "b"},
        {"id": "b", "text": None, "vector": None},
        {"id": "b", "metadata": {"x": 1}, "metadata_patch": {"y": 2}},
        {"id": "", "text": "x"},
        {"text": "x"},
        {"id": "b", "text": 5},
        {"id": "b", "text": "nul\x00"},
        {"id": "b", "metadata": ["not", "an", "object"]},
        {"id": "b", "metadata_patch": "not an object"},
        {"id": "b", "metadata_patch": {"k": "nul\x00"}},
        {"id": "b", "metadata_patch": {1: "non-string key"}},
        {"id": "b", "vector": [0.0, 0.0]},  # no direction under cosine
        {"id": "b", "vector": "not a vector"},
        "not a patch",
    ],
    ids=repr,
)
def test_an_invalid_patch_writes_nothing(store: nighdb.Store, bad: Any) -> None:
    _filled(store)
    before = _state(store)
    with raises(InvalidArgumentError):
        store.update(TENANT, "docs", [{"id": "a", "text": "changed"}, bad])
    assert _state(store) == before


def test_an_update_vector_of_the_wrong_length_is_a_dimension_mismatch(
    store: nighdb.Store,
) -> None:
    _filled(store)
    before = _state(store)
    with raises(DimensionMismatchError) as info:
        store.update(TENANT, "docs", [{"id": "a", "text": "x"}, {"id": "b", "vector": [1.0] * 3}])
    assert (info.value.expected, info.value.got) == (2, 3)
    assert _state(store) == before


def test_empty_update_returns_zero(store: nighdb.Store) -> None:
    _filled(store)
    assert store.update(TENANT, "docs", []) == 0


def test_update_keeps_other_tenants_apart(store: nighdb.Store) -> None:
    _filled(store)
    make(store, tenant="other")
    with raises(InvalidArgumentError):
        store.update("other", "docs", [{"id": "a", "text": "x"}])
    assert store.delete("other", "docs", filter={}) == 0
    assert store.count(TENANT, "docs") == 5
