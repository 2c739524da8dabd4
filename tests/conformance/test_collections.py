"""Collections: ensure_collection step by step (contract §3, §12), describe, list, drop, tenants."""

from __future__ import annotations

from typing import Any, cast

import pytest

import nighdb
from nighdb import Collection, CollectionConflictError, InvalidArgumentError

from ._helpers import TENANT, ids, make, raises

# -- step 1: the name ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "n" * 257, "a\x00b", "\x00"])
def test_ensure_rejects_an_invalid_name(store: nighdb.Store, name: str) -> None:
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection(name, 3))
    assert store.list_collections(TENANT) == []
    assert store.list_tenants() == []


@pytest.mark.parametrize("name", [None, 5, b"docs"])
def test_ensure_rejects_a_non_string_name(store: nighdb.Store, name: object) -> None:
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection(cast(Any, name), 3))
    assert store.list_tenants() == []


def test_an_invalid_name_is_rejected_before_the_metric(store: nighdb.Store) -> None:
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection("", 3, "", "bogus"))


# -- step 2: the metric ------------------------------------------------------------------


def test_empty_metric_means_cosine(store: nighdb.Store) -> None:
    pin = store.ensure_collection(TENANT, Collection("docs", 3, "m", ""))
    assert pin == Collection("docs", 3, "m", "cosine")
    assert store.describe_collection(TENANT, "docs") == Collection("docs", 3, "m", "cosine")
    # "" stays "cosine" when comparing with an existing collection, too.
    assert store.ensure_collection(TENANT, Collection("docs", 3, "m", "")) == pin
    assert store.ensure_collection(TENANT, Collection("docs", 3, "m", "cosine")) == pin


def test_empty_metric_conflicts_with_an_l2_collection(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    with raises(CollectionConflictError) as info:
        store.ensure_collection(TENANT, Collection("docs", 3, "", ""))
    assert (info.value.field, info.value.existing, info.value.requested) == (
        "metric",
        "l2",
        "cosine",
    )


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_each_metric_is_stored(store: nighdb.Store, metric: str) -> None:
    pin = store.ensure_collection(TENANT, Collection("docs", 3, "", metric))
    assert pin.metric == metric
    assert store.describe_collection(TENANT, "docs") == Collection("docs", 3, "", metric)


UNKNOWN_METRICS = ["euclidean", "dot", "Cosine", "COSINE", " cosine", "L2", "IP", "hamming"]


@pytest.mark.parametrize("metric", UNKNOWN_METRICS)
def test_unknown_metric_is_invalid(store: nighdb.Store, metric: str) -> None:
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection("docs", 3, "", metric))
    assert store.describe_collection(TENANT, "docs") is None


@pytest.mark.parametrize("metric", UNKNOWN_METRICS)
def test_unknown_metric_is_invalid_even_when_the_collection_exists(
    store: nighdb.Store, metric: str
) -> None:
    pin = make(store, "docs", 3, model="m")
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection("docs", 3, "m", metric))
    # Step 2 comes before the pin comparison: not a conflict on dimensions or model.
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection("docs", 7, "other", metric))
    assert store.describe_collection(TENANT, "docs") == pin


# -- step 3: an existing collection ------------------------------------------------------

EXISTING = Collection("docs", 3, "model-a", "cosine")

CONFLICTS = [
    # (requested, field, existing, requested-as-string); dimensions are checked first.
    (Collection("docs", 4, "model-b", "l2"), "dimensions", "3", "4"),
    (Collection("docs", 4, "", "cosine"), "dimensions", "3", "4"),
    (Collection("docs", 16000, "model-a", "cosine"), "dimensions", "3", "16000"),
    (Collection("docs", 3, "model-b", "l2"), "embedding_model", "model-a", "model-b"),
    (Collection("docs", 0, "model-b", "ip"), "embedding_model", "model-a", "model-b"),
    (Collection("docs", 0, "MODEL-A", "cosine"), "embedding_model", "model-a", "MODEL-A"),
    (Collection("docs", 3, "model-a", "l2"), "metric", "cosine", "l2"),
    (Collection("docs", 0, "", "ip"), "metric", "cosine", "ip"),
    (Collection("docs", 3, "", "l2"), "metric", "cosine", "l2"),
]


@pytest.mark.parametrize(("requested", "field", "existing", "wanted"), CONFLICTS)
def test_incompatible_pin_is_a_conflict(
    store: nighdb.Store, requested: Collection, field: str, existing: str, wanted: str
) -> None:
    store.ensure_collection(TENANT, EXISTING)
    store.upsert(TENANT, "docs", [{"id": "kept", "vector": [1.0, 2.0, 3.0]}])
    with raises(CollectionConflictError) as info:
        store.ensure_collection(TENANT, requested)
    err = info.value
    assert err.collection == "docs"
    assert err.field == field
    assert err.existing == existing
    assert err.requested == wanted
    assert all(isinstance(v, str) for v in (err.field, err.existing, err.requested))
    # A conflict changes nothing.
    assert store.describe_collection(TENANT, "docs") == EXISTING
    assert store.list_ids(TENANT, "docs") == ["kept"]


COMPATIBLE = [
    Collection("docs", 3, "model-a", "cosine"),
    Collection("docs", 0, "model-a", "cosine"),
    Collection("docs", 3, "", "cosine"),
    Collection("docs", 0, "", "cosine"),
    Collection("docs", 0, "", ""),
    Collection("docs", 3, "model-a", ""),
]


@pytest.mark.parametrize("requested", COMPATIBLE)
def test_compatible_ensure_is_a_noop_returning_the_stored_pin(
    store: nighdb.Store, requested: Collection
) -> None:
    store.ensure_collection(TENANT, EXISTING)
    store.upsert(TENANT, "docs", [{"id": "kept", "vector": [1.0, 2.0, 3.0], "text": "t"}])
    assert store.ensure_collection(TENANT, requested) == EXISTING
    assert store.list_collections(TENANT) == [EXISTING]
    assert store.list_ids(TENANT, "docs") == ["kept"]
    assert store.search(TENANT, "docs", [1.0, 2.0, 3.0])[0].text == "t"


def test_a_collection_created_without_a_model_cannot_get_one(store: nighdb.Store) -> None:
    make(store, "docs", 3)
    with raises(CollectionConflictError) as info:
        store.ensure_collection(TENANT, Collection("docs", 3, "model-a", "cosine"))
    assert (info.value.field, info.value.existing, info.value.requested) == (
        "embedding_model",
        "",
        "model-a",
    )
    assert store.describe_collection(TENANT, "docs") == Collection("docs", 3, "", "cosine")


# -- step 4 and §12: dimensions ------------------------------------------------------------


def test_zero_dimensions_cannot_create(store: nighdb.Store) -> None:
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection("docs", 0, "m", "cosine"))
    assert store.describe_collection(TENANT, "docs") is None
    assert store.list_tenants() == []


@pytest.mark.parametrize("dims", [-1, -3, 16001, 10**9])
def test_dimensions_out_of_range_are_invalid(store: nighdb.Store, dims: int) -> None:
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection("docs", dims))
    assert store.describe_collection(TENANT, "docs") is None


@pytest.mark.parametrize("dims", [-1, 16001])
def test_dimensions_out_of_range_are_invalid_before_existence(
    store: nighdb.Store, dims: int
) -> None:
    store.ensure_collection(TENANT, EXISTING)
    with raises(InvalidArgumentError):  # not a conflict on dimensions
        store.ensure_collection(TENANT, Collection("docs", dims, "model-a", "cosine"))
    assert store.describe_collection(TENANT, "docs") == EXISTING


@pytest.mark.parametrize("dims", [1, 16000])
def test_dimension_bounds_are_inclusive(store: nighdb.Store, dims: int) -> None:
    make(store, "docs", dims, metric="l2")
    vector = [0.5] * dims
    assert store.upsert(TENANT, "docs", [{"id": "v", "vector": vector}]) == 1
    [match] = store.search(TENANT, "docs", vector)
    assert match.id == "v"
    assert match.distance == pytest.approx(0.0, abs=1e-6)


# -- describe, list, drop, tenants ---------------------------------------------------------


def test_describe_missing_collection_is_none(store: nighdb.Store) -> None:
    assert store.describe_collection(TENANT, "nope") is None
    make(store, "docs")
    assert store.describe_collection(TENANT, "nope") is None
    assert store.describe_collection(TENANT, "Docs") is None  # names are case-sensitive


def test_list_collections_sorts_names_in_byte_order(store: nighdb.Store) -> None:
    names = ["beta", "alpha", "Alpha", "z", "_under", "Beta", "é", "😀", "\ufffd", "a b"]
    for dims, name in enumerate(names, start=1):
        make(store, name, dims)
    listed = store.list_collections(TENANT)
    assert [c.name for c in listed] == [
        "Alpha",
        "Beta",
        "_under",
        "a b",
        "alpha",
        "beta",
        "z",
        "é",
        "\ufffd",
        "😀",
    ]
    by_name = {c.name: c for c in listed}
    for dims, name in enumerate(names, start=1):
        assert by_name[name] == Collection(name, dims, "", "cosine")


def test_list_collections_of_an_unknown_tenant_is_empty(store: nighdb.Store) -> None:
    assert store.list_collections(TENANT) == []
    make(store, "docs", tenant="other")
    assert store.list_collections(TENANT) == []


def test_drop_returns_the_number_of_items_removed(store: nighdb.Store) -> None:
    make(store, "docs")
    make(store, "keep")
    items = [{"id": f"i{n}", "vector": [1.0, float(n)]} for n in range(3)]
    store.upsert(TENANT, "docs", items)
    store.upsert(TENANT, "keep", items[:2])
    assert store.drop_collection(TENANT, "docs") == 3
    assert store.describe_collection(TENANT, "docs") is None
    assert [c.name for c in store.list_collections(TENANT)] == ["keep"]
    with raises(nighdb.CollectionNotFoundError):
        store.count(TENANT, "docs")
    # The other collection is intact.
    assert store.count(TENANT, "keep") == 2
    assert sorted(store.list_ids(TENANT, "keep")) == ["i0", "i1"]


def test_drop_of_a_missing_collection_returns_zero(store: nighdb.Store) -> None:
    assert store.drop_collection(TENANT, "never") == 0
    make(store, "docs")
    assert store.drop_collection(TENANT, "docs") == 0  # existed but empty
    assert store.describe_collection(TENANT, "docs") is None
    assert store.drop_collection(TENANT, "docs") == 0  # already dropped


def test_recreating_a_dropped_collection_starts_empty_with_a_fresh_pin(
    store: nighdb.Store,
) -> None:
    make(store, "docs", 2, model="old")
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": {"k": 1}}])
    assert store.drop_collection(TENANT, "docs") == 1
    pin = store.ensure_collection(TENANT, Collection("docs", 3, "new", "l2"))
    assert pin == Collection("docs", 3, "new", "l2")
    assert store.describe_collection(TENANT, "docs") == pin
    assert store.count(TENANT, "docs") == 0
    assert store.list_ids(TENANT, "docs") == []
    assert store.search(TENANT, "docs", [1.0, 0.0, 0.0]) == []
    store.upsert(TENANT, "docs", [{"id": "b", "vector": [0.0, 0.0, 1.0]}])
    assert ids(store.search(TENANT, "docs", [0.0, 0.0, 1.0])) == ["b"]


def test_list_tenants_is_byte_ordered_and_tracks_collections(store: nighdb.Store) -> None:
    assert store.list_tenants() == []
    for tenant in ["beta", "Alpha", "alpha", "é", "Z"]:
        make(store, "docs", tenant=tenant)
    make(store, "second", tenant="beta")
    assert store.list_tenants() == ["Alpha", "Z", "alpha", "beta", "é"]
    store.drop_collection("beta", "docs")
    assert store.list_tenants() == ["Alpha", "Z", "alpha", "beta", "é"]
    store.drop_collection("beta", "second")
    assert store.list_tenants() == ["Alpha", "Z", "alpha", "é"]
