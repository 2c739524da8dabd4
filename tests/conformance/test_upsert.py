"""upsert (contract §4, §1 validation, §12): insert or replace by id, validated, all or nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import DimensionMismatchError, InvalidArgumentError, Item

from ._helpers import BIG, TENANT, ids, make, raises, snapshot

NAN, INF = float("nan"), float("inf")
PROBES = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.3, -0.2, 1.0]]


def _get(store: nighdb.Store, item_id: str, collection: str = "docs") -> nighdb.Match:
    [match] = store.search(TENANT, collection, [1.0, 1.0, 1.0], filter={"id": item_id})
    return match


# -- return value, replacement, duplicates -----------------------------------------------


def test_upsert_returns_the_number_of_items(store: nighdb.Store) -> None:
    make(store, "docs", 3)
    items = [{"id": f"i{n}", "vector": [1.0, float(n), 0.0]} for n in range(5)]
    assert store.upsert(TENANT, "docs", items) == 5
    assert store.count(TENANT, "docs") == 5
    assert sorted(store.list_ids(TENANT, "docs")) == ["i0", "i1", "i2", "i3", "i4"]
    # Re-upserting the same ids replaces: same return value, same count.
    assert store.upsert(TENANT, "docs", items) == 5
    assert store.count(TENANT, "docs") == 5


def test_empty_batch_returns_zero_and_changes_nothing(store: nighdb.Store) -> None:
    make(store, "docs", 3)
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0, 0.0]}])
    assert store.upsert(TENANT, "docs", []) == 0
    assert store.list_ids(TENANT, "docs") == ["a"]


def test_duplicates_count_each_time_and_the_last_wins(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    batch: list[dict[str, Any]] = [
        {"id": "a", "vector": [1.0, 0.0, 0.0], "metadata": {"v": 1}, "text": "first"},
        {"id": "b", "vector": [0.0, 1.0, 0.0]},
        {"id": "a", "vector": [0.0, 0.0, 5.0], "metadata": {"v": 2}, "text": "second"},
        {"id": "a", "vector": [0.0, 0.0, 7.0], "metadata": {"v": 3}, "text": "third"},
    ]
    assert store.upsert(TENANT, "docs", batch) == 4
    assert store.count(TENANT, "docs") == 2
    [match] = store.search(TENANT, "docs", [0.0, 0.0, 7.0], limit=1)
    assert (match.id, match.metadata, match.text) == ("a", {"v": 3}, "third")
    assert match.distance == pytest.approx(0.0, abs=1e-6)


def test_replacement_is_total(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "m", "vector": [1.0, 0.0, 0.0], "metadata": {"k": "v", "n": 1}, "text": "t"},
            {"id": "i", "vector": [1.0, 0.0, 0.0], "metadata": {"k": "v"}, "text": "t"},
        ],
    )
    # A mapping without metadata/text and an Item with defaults both reset them.
    store.upsert(TENANT, "docs", [{"id": "m", "vector": [0.0, 2.0, 0.0]}])
    store.upsert(TENANT, "docs", [Item("i", [0.0, 0.0, 3.0])])
    m = store.search(TENANT, "docs", [0.0, 2.0, 0.0], filter={"id": "m"})[0]
    assert (m.metadata, m.text) == ({}, "")
    assert m.distance == pytest.approx(0.0, abs=1e-6)
    i = store.search(TENANT, "docs", [0.0, 0.0, 3.0], filter={"id": "i"})[0]
    assert (i.metadata, i.text) == ({}, "")
    assert i.distance == pytest.approx(0.0, abs=1e-6)
    # The old metadata no longer matches filters.
    assert store.search(TENANT, "docs", [1.0, 0.0, 0.0], filter={"k": "v"}) == []


# -- accepted input shapes -----------------------------------------------------------------


def test_items_mappings_and_vector_kinds_are_accepted(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    batch: list[Any] = [
        Item("item-list", [1.0, 2.0, 3.0], {"kind": "item"}, "an Item"),
        Item("item-f32", np.array([1.5, -2.0, 0.25], dtype=np.float32)),
        {"id": "map-f64", "vector": np.array([0.1, 0.2, 0.3], dtype=np.float64)},
        {"id": "map-tuple", "vector": (4.0, 5.0, 6.0), "metadata": {"kind": "map"}},
        {"id": "map-ints", "vector": [7, 8, 9]},
        {"id": "map-f32-scalars", "vector": [np.float32(1.0), np.float32(0.5), np.float32(0.0)]},
    ]
    assert store.upsert(TENANT, "docs", batch) == len(batch)
    expected = {
        "item-list": [1.0, 2.0, 3.0],
        "item-f32": [1.5, -2.0, 0.25],
        "map-f64": [0.1, 0.2, 0.3],
        "map-tuple": [4.0, 5.0, 6.0],
        "map-ints": [7.0, 8.0, 9.0],
        "map-f32-scalars": [1.0, 0.5, 0.0],
    }
    for item_id, vector in expected.items():
        [m] = store.search(TENANT, "docs", vector, filter={"id": item_id})
        assert m.distance == pytest.approx(0.0, abs=1e-6), item_id
    assert _get(store, "item-list").metadata == {"kind": "item"}
    assert _get(store, "item-list").text == "an Item"
    assert _get(store, "map-tuple").metadata == {"kind": "map"}


def test_vectors_are_stored_with_float32_precision_or_better(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [0.1, 1e-3, 12345.678]}])
    [m] = store.search(TENANT, "docs", [0.1, 1e-3, 12345.678])
    assert m.distance == pytest.approx(0.0, abs=1e-3)


def test_a_large_batch_is_written_in_one_call(store: nighdb.Store) -> None:
    make(store, "big", 4, metric="l2")
    n = 50_000
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, 4)).astype(np.float32)
    items = [{"id": f"id-{i:05d}", "vector": vectors[i], "metadata": {"i": i}} for i in range(n)]
    assert store.upsert(TENANT, "big", items) == n
    assert store.count(TENANT, "big") == n
    all_ids = store.list_ids(TENANT, "big")
    assert len(all_ids) == n
    assert set(all_ids) == {f"id-{i:05d}" for i in range(n)}
    [m] = store.search(TENANT, "big", vectors[n - 1], limit=1, filter={"i": n - 1})
    assert (m.id, m.metadata) == (f"id-{n - 1:05d}", {"i": n - 1})
    assert m.distance == pytest.approx(0.0, abs=1e-6)
    # Replacing them all is also one call.
    assert store.upsert(TENANT, "big", items) == n
    assert store.count(TENANT, "big") == n


# -- zero vectors --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_zero_vectors_are_fine_outside_cosine(store: nighdb.Store, metric: str) -> None:
    make(store, "docs", 3, metric=metric)
    assert store.upsert(TENANT, "docs", [{"id": "zero", "vector": [0.0, 0.0, 0.0]}]) == 1
    [m] = store.search(TENANT, "docs", [1.0, 2.0, 2.0])
    assert m.id == "zero"
    assert m.distance == pytest.approx(3.0 if metric == "l2" else 0.0, abs=1e-6)


# -- boundaries that are valid -------------------------------------------------------------


def test_values_at_the_limits_are_accepted(store: nighdb.Store) -> None:
    make(store, "docs", 3)
    meta = {
        "max": 2**63 - 1,
        "min": -(2**63),
        "huge": 1.7976931348623157e308,
        "tiny": 5e-324,
        "empty": "",
        "nested": {"deep": [{"x": [1, 2, {"y": None}]}]},
    }
    item = {"id": "i" * 1024, "vector": [1.0, -1.0, 1e-30], "metadata": meta}
    assert store.upsert(TENANT, "docs", [item]) == 1
    [m] = store.search(TENANT, "docs", [1.0, -1.0, 0.0])
    assert m.id == "i" * 1024
    assert m.metadata == meta
    assert m.distance == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("cosine", [("big", 0.0), ("small", 1 - 2**-0.5)]),
        ("l2", [("small", 1.0), ("big", 2**0.5 * (3e38 - 1))]),
        ("ip", [("big", -6e38), ("small", -1.0)]),
    ],
)
def test_large_finite_float32_values_are_stored_and_searchable(
    store: nighdb.Store, metric: str, expected: list[tuple[str, float]]
) -> None:
    # 3e38 is finite in float32 (max ~3.4e38): contract §1 accepts it, so search must rank it.
    make(store, "docs", 3, metric=metric)
    store.upsert(
        TENANT,
        "docs",
        [{"id": "big", "vector": [3e38, -3e38, 0.0]}, {"id": "small", "vector": [1.0, 0, 0]}],
    )
    got = store.search(TENANT, "docs", [1.0, -1.0, 0.0])
    assert ids(got) == [i for i, _ in expected]
    for match, (_, distance) in zip(got, expected, strict=True):
        assert match.distance == pytest.approx(distance, rel=1e-6, abs=1e-6)


# -- all or nothing: every validation rule, with the bad item last -------------------------

V = [1.0, 2.0, 3.0]

BAD_ITEMS: list[tuple[str, Any, type[nighdb.NighError]]] = [
    ("empty-id", {"id": "", "vector": V}, InvalidArgumentError),
    ("id-1025-chars", {"id": "x" * 1025, "vector": V}, InvalidArgumentError),
    ("id-with-nul", {"id": "a\x00b", "vector": V}, InvalidArgumentError),
    ("id-int", {"id": 7, "vector": V}, InvalidArgumentError),
    ("id-none", {"id": None, "vector": V}, InvalidArgumentError),
    ("id-bytes", {"id": b"x", "vector": V}, InvalidArgumentError),
    ("id-missing", {"vector": V}, InvalidArgumentError),
    ("vector-missing", {"id": "bad"}, InvalidArgumentError),
    ("item-empty-id", Item("", V), InvalidArgumentError),
    ("not-an-item", 42, InvalidArgumentError),
    ("vector-short", {"id": "bad", "vector": [1.0, 2.0]}, DimensionMismatchError),
    ("vector-long", {"id": "bad", "vector": [1.0, 2.0, 3.0, 4.0]}, DimensionMismatchError),
    ("vector-numpy-short", {"id": "bad", "vector": np.ones(2)}, DimensionMismatchError),
    ("vector-nan", {"id": "bad", "vector": [1.0, NAN, 0.0]}, InvalidArgumentError),
    ("vector-inf", {"id": "bad", "vector": [1.0, INF, 0.0]}, InvalidArgumentError),
    ("vector-neg-inf", {"id": "bad", "vector": [1.0, -INF, 0.0]}, InvalidArgumentError),
    ("vector-numpy-nan", {"id": "bad", "vector": np.array([1, NAN, 0])}, InvalidArgumentError),
    ("vector-f32-overflow", {"id": "bad", "vector": [1e39, 0.0, 0.0]}, InvalidArgumentError),
    ("vector-f32-neg-overflow", {"id": "bad", "vector": [0, -1e39, 0]}, InvalidArgumentError),
    ("vector-zero-cosine", {"id": "bad", "vector": [0.0, 0.0, 0.0]}, InvalidArgumentError),
    ("vector-strings", {"id": "bad", "vector": ["a", "b", "c"]}, InvalidArgumentError),
    ("vector-string", {"id": "bad", "vector": "abc"}, InvalidArgumentError),
    ("vector-none", {"id": "bad", "vector": None}, InvalidArgumentError),
    ("metadata-list", {"id": "bad", "vector": V, "metadata": [1, 2]}, InvalidArgumentError),
    ("metadata-string", {"id": "bad", "vector": V, "metadata": "{}"}, InvalidArgumentError),
    ("metadata-int", {"id": "bad", "vector": V, "metadata": 5}, InvalidArgumentError),
    ("metadata-int-key", {"id": "bad", "vector": V, "metadata": {1: "a"}}, InvalidArgumentError),
    (
        "metadata-nested-int-key",
        {"id": "bad", "vector": V, "metadata": {"a": {2: "b"}}},
        InvalidArgumentError,
    ),
    (
        "metadata-none-key",
        {"id": "bad", "vector": V, "metadata": {None: "a"}},
        InvalidArgumentError,
    ),
    (
        "metadata-nul-key",
        {"id": "bad", "vector": V, "metadata": {"a\x00": 1}},
        InvalidArgumentError,
    ),
    (
        "metadata-nested-nul-key",
        {"id": "bad", "vector": V, "metadata": {"a": [{"b\x00": 1}]}},
        InvalidArgumentError,
    ),
    (
        "metadata-nul-value",
        {"id": "bad", "vector": V, "metadata": {"a": "x\x00y"}},
        InvalidArgumentError,
    ),
    (
        "metadata-nested-nul-value",
        {"id": "bad", "vector": V, "metadata": {"a": ["ok", {"b": "\x00"}]}},
        InvalidArgumentError,
    ),
    ("metadata-nan", {"id": "bad", "vector": V, "metadata": {"a": NAN}}, InvalidArgumentError),
    ("metadata-inf", {"id": "bad", "vector": V, "metadata": {"a": INF}}, InvalidArgumentError),
    (
        "metadata-nested-neg-inf",
        {"id": "bad", "vector": V, "metadata": {"a": [1.0, -INF]}},
        InvalidArgumentError,
    ),
    (
        "metadata-int-2**63",
        {"id": "bad", "vector": V, "metadata": {"a": 2**63}},
        InvalidArgumentError,
    ),
    (
        "metadata-int-below-int64",
        {"id": "bad", "vector": V, "metadata": {"a": [-(2**63) - 1]}},
        InvalidArgumentError,
    ),
    (
        "metadata-not-json",
        {"id": "bad", "vector": V, "metadata": {"a": {1, 2}}},
        InvalidArgumentError,
    ),
    ("text-nul", {"id": "bad", "vector": V, "text": "a\x00b"}, InvalidArgumentError),
    ("text-int", {"id": "bad", "vector": V, "text": 5}, InvalidArgumentError),
    ("text-bytes", {"id": "bad", "vector": V, "text": b"t"}, InvalidArgumentError),
]


def _seed(store: nighdb.Store) -> None:
    make(store, "docs", 3)
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "e1", "vector": [1.0, 0.0, 0.0], "metadata": {"k": "orig1"}, "text": "one"},
            {"id": "e2", "vector": [0.0, 1.0, 0.0], "metadata": {"k": "orig2"}, "text": "two"},
        ],
    )


@pytest.mark.parametrize(
    ("bad", "error"), [(b, e) for _, b, e in BAD_ITEMS], ids=[n for n, _, _ in BAD_ITEMS]
)
def test_a_bad_last_item_leaves_the_store_unchanged(
    store: nighdb.Store, bad: Any, error: type[nighdb.NighError]
) -> None:
    _seed(store)
    before = snapshot(store, "docs", PROBES)
    batch = [
        {"id": "new", "vector": [0.0, 0.0, 1.0], "metadata": {"k": "new"}, "text": "new"},
        {"id": "e1", "vector": [0.0, 1.0, 1.0], "metadata": {"k": "changed"}, "text": "x"},
        Item("e2", [5.0, 5.0, 0.0]),
        bad,
    ]
    with raises(error) as info:
        store.upsert(TENANT, "docs", batch)
    if isinstance(info.value, DimensionMismatchError):
        assert info.value.collection == "docs"
        assert info.value.expected == 3
        assert info.value.got == len(bad["vector"])
    assert store.count(TENANT, "docs") == 2
    assert snapshot(store, "docs", PROBES) == before
    assert before["e1"][1:] == ({"k": "orig1"}, "one")


def test_a_bad_first_item_writes_nothing(store: nighdb.Store) -> None:
    _seed(store)
    before = snapshot(store, "docs", PROBES)
    batch = [{"id": "", "vector": V}] + [
        {"id": f"good{n}", "vector": [1.0, float(n), 0.0]} for n in range(100)
    ]
    with raises(InvalidArgumentError):
        store.upsert(TENANT, "docs", batch)
    assert snapshot(store, "docs", PROBES) == before


def test_bad_item_in_a_large_batch_writes_nothing(store: nighdb.Store) -> None:
    _seed(store)
    before = snapshot(store, "docs", PROBES)
    batch: list[Any] = [{"id": f"good{n}", "vector": [1.0, float(n), 0.0]} for n in range(30_000)]
    batch.append({"id": "bad", "vector": [1.0, NAN, 0.0]})
    with raises(InvalidArgumentError):
        store.upsert(TENANT, "docs", batch)
    assert snapshot(store, "docs", PROBES) == before


FIRST_FAILURE: list[tuple[list[Any], type[nighdb.NighError], int | None]] = [
    ([{"id": "", "vector": V}, {"id": "b", "vector": [1.0]}], InvalidArgumentError, None),
    ([{"id": "b", "vector": [1.0]}, {"id": "", "vector": V}], DimensionMismatchError, 1),
    (
        [{"id": "a", "vector": [1.0, 2.0]}, {"id": "b", "vector": [1.0] * 5}],
        DimensionMismatchError,
        2,
    ),
    (
        [{"id": "a", "vector": V}, {"id": "b", "vector": [NAN] * 3}, {"id": "c", "vector": [1.0]}],
        InvalidArgumentError,
        None,
    ),
    (
        [{"id": "a", "vector": V, "text": 3}, {"id": "b", "vector": [1.0] * 4}],
        InvalidArgumentError,
        None,
    ),
    (
        [{"id": "a", "vector": V, "metadata": {"x": NAN}}, {"id": "b", "vector": [1.0] * 4}],
        InvalidArgumentError,
        None,
    ),
]


@pytest.mark.parametrize(("batch", "error", "got"), FIRST_FAILURE)
def test_the_first_failing_item_decides_the_error(
    store: nighdb.Store,
    batch: list[Any],
    error: type[nighdb.NighError],
    got: int | None,
) -> None:
    _seed(store)
    with raises(error) as info:
        store.upsert(TENANT, "docs", batch)
    if got is not None:
        assert isinstance(info.value, DimensionMismatchError)
        assert (info.value.expected, info.value.got) == (3, got)
    assert store.count(TENANT, "docs") == 2


def test_upsert_into_one_collection_never_touches_another(store: nighdb.Store) -> None:
    make(store, "a", 3)
    make(store, "b", 3)
    store.upsert(TENANT, "a", [{"id": "x", "vector": V, "text": "in a"}])
    store.upsert(TENANT, "b", [{"id": "x", "vector": [3.0, 2.0, 1.0], "text": "in b"}])
    assert [m.text for m in store.search(TENANT, "a", V, limit=BIG)] == ["in a"]
    assert ids(store.search(TENANT, "b", V, limit=BIG)) == ["x"]
    assert store.search(TENANT, "b", V)[0].text == "in b"
