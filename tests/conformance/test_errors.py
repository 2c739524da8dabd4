"""Errors (contract §7, §12): one root, stable codes, attributes, messages naming the collection."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

import nighdb
from nighdb import (
    Collection,
    CollectionConflictError,
    CollectionNotFoundError,
    DimensionMismatchError,
    InvalidArgumentError,
)

from ._helpers import CODES, make, raises

TENANT = "tenant-Qx7"
NAME = "coll-Zeta9"  # distinctive, so "the message names it" cannot pass by accident


def test_error_classes_share_one_root_with_stable_codes() -> None:
    assert issubclass(nighdb.NighError, Exception)
    expected = {
        "CollectionNotFoundError": "collection_not_found",
        "CollectionConflictError": "collection_conflict",
        "DimensionMismatchError": "dimension_mismatch",
        "InvalidArgumentError": "invalid_argument",
        "UnauthenticatedError": "unauthenticated",
        "PermissionDeniedError": "permission_denied",
        "StoreUnavailableError": "unavailable",
        "PayloadTooLargeError": "payload_too_large",
    }
    for name, code in expected.items():
        cls = getattr(nighdb, name)
        assert issubclass(cls, nighdb.NighError)
        assert cls.code == code
        assert CODES[cls] == code
    assert len({cls.code for cls in CODES}) == len(CODES)


Trigger = Callable[[nighdb.Store], object]

TRIGGERS: dict[str, tuple[Trigger, type[nighdb.NighError]]] = {
    "not-found": (lambda s: s.count(TENANT, "missing-Qq1"), CollectionNotFoundError),
    "conflict": (
        lambda s: s.ensure_collection(TENANT, Collection(NAME, 4)),
        CollectionConflictError,
    ),
    "dimension-upsert": (
        lambda s: s.upsert(TENANT, NAME, [{"id": "a", "vector": [1.0]}]),
        DimensionMismatchError,
    ),
    "dimension-search": (lambda s: s.search(TENANT, NAME, [1.0]), DimensionMismatchError),
    "bad-tenant": (lambda s: s.count("", NAME), InvalidArgumentError),
    "bad-metric": (
        lambda s: s.ensure_collection(TENANT, Collection(NAME, 3, "", "hamming")),
        InvalidArgumentError,
    ),
    "bad-dims": (lambda s: s.ensure_collection(TENANT, Collection("new", 0)), InvalidArgumentError),
    "bad-vector": (
        lambda s: s.upsert(TENANT, NAME, [{"id": "a", "vector": [float("nan")] * 3}]),
        InvalidArgumentError,
    ),
    "bad-filter": (
        lambda s: s.search(TENANT, NAME, [1.0, 0.0, 0.0], filter={"f": None}),
        InvalidArgumentError,
    ),
    "bad-limit": (lambda s: s.list_ids(TENANT, NAME, limit=0), InvalidArgumentError),
}


@pytest.mark.parametrize(("trigger", "cls"), TRIGGERS.values(), ids=TRIGGERS.keys())
def test_every_error_is_a_coded_nigh_error(
    store: nighdb.Store, trigger: Trigger, cls: type[nighdb.NighError]
) -> None:
    make(store, NAME, 3, tenant=TENANT)
    with raises(cls) as info:
        trigger(store)
    err = info.value
    assert isinstance(err, nighdb.NighError)
    assert str(err)  # a message, never empty
    if isinstance(err, InvalidArgumentError):
        assert isinstance(err.reason, str) and err.reason


def test_not_found_carries_tenant_and_collection_and_names_them(store: nighdb.Store) -> None:
    with raises(CollectionNotFoundError) as info:
        store.search(TENANT, "missing-Qq1", [1.0])
    err = info.value
    assert (err.tenant, err.collection) == (TENANT, "missing-Qq1")
    assert "missing-Qq1" in str(err)
    assert TENANT in str(err)


def test_conflict_carries_its_attributes_and_names_the_collection(store: nighdb.Store) -> None:
    make(store, NAME, 3, model="model-a", tenant=TENANT)
    with raises(CollectionConflictError) as info:
        store.ensure_collection(TENANT, Collection(NAME, 0, "model-b"))
    err = info.value
    assert (err.collection, err.field, err.existing, err.requested) == (
        NAME,
        "embedding_model",
        "model-a",
        "model-b",
    )
    assert NAME in str(err)
    for value in ("model-a", "model-b"):
        assert value in str(err)


def test_dimension_mismatch_carries_its_attributes_and_names_the_collection(
    store: nighdb.Store,
) -> None:
    make(store, NAME, 3, tenant=TENANT)
    with raises(DimensionMismatchError) as info:
        store.upsert(TENANT, NAME, [{"id": "a", "vector": [1.0, 2.0, 3.0, 4.0, 5.0]}])
    err = info.value
    assert (err.collection, err.expected, err.got) == (NAME, 3, 5)
    assert isinstance(err.expected, int) and isinstance(err.got, int)
    assert NAME in str(err)
    with raises(DimensionMismatchError) as info:
        store.search(TENANT, NAME, [1.0, 2.0])
    assert (info.value.collection, info.value.expected, info.value.got) == (NAME, 3, 2)
    assert NAME in str(info.value)


# Validation failures of data sent to an existing collection: the message names it too.
ITEM_FAILURES: dict[str, Callable[[nighdb.Store], object]] = {
    "vector-nan": lambda s: s.upsert(TENANT, NAME, [{"id": "a", "vector": [float("nan")] * 3}]),
    "vector-zero": lambda s: s.upsert(TENANT, NAME, [{"id": "a", "vector": [0.0] * 3}]),
    "query-zero": lambda s: s.search(TENANT, NAME, [0.0] * 3),
    "query-inf": lambda s: s.search(TENANT, NAME, [float("inf"), 0.0, 0.0]),
    "empty-id": lambda s: s.upsert(TENANT, NAME, [{"id": "", "vector": [1.0] * 3}]),
    "metadata": lambda s: s.upsert(TENANT, NAME, [{"id": "a", "vector": [1.0] * 3, "metadata": 5}]),
    "text": lambda s: s.upsert(TENANT, NAME, [{"id": "a", "vector": [1.0] * 3, "text": "\x00"}]),
}


@pytest.mark.parametrize("trigger", ITEM_FAILURES.values(), ids=ITEM_FAILURES.keys())
def test_invalid_data_messages_name_the_collection(store: nighdb.Store, trigger: Any) -> None:
    make(store, NAME, 3, tenant=TENANT)
    with raises(InvalidArgumentError) as info:
        trigger(store)
    assert NAME in str(info.value), str(info.value)


@pytest.mark.parametrize(("trigger", "cls"), TRIGGERS.values(), ids=TRIGGERS.keys())
def test_every_raised_error_pickles_and_copies_as_itself(
    store: nighdb.Store, trigger: Trigger, cls: type[nighdb.NighError]
) -> None:
    make(store, NAME, 3, tenant=TENANT)
    with raises(cls) as info:
        trigger(store)
    err = info.value
    for clone in (pickle.loads(pickle.dumps(err)), copy.copy(err), copy.deepcopy(err)):
        assert type(clone) is type(err)
        assert (clone.message, str(clone), clone.args) == (err.message, str(err), err.args)
        assert dict(clone.details) == dict(err.details)
