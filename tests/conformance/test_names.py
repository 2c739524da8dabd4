"""Tenants, collection names and item ids (contract §1): the rules, and every other character."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import nighdb
from nighdb import Collection, InvalidArgumentError

from ._helpers import TENANT, ids, make, raises

BAD_NAMES: list[object] = ["", "n" * 257, "a\x00b", "\x00", None, 5, b"bytes", ["a"]]
BAD_NAME_IDS = ["empty", "257-chars", "nul", "only-nul", "none", "int", "bytes", "list"]

Call = Callable[[nighdb.Store, Any, Any], object]

# Every method that takes a tenant and a collection name, with otherwise valid arguments.
NAMED_CALLS: dict[str, Call] = {
    "ensure_collection": lambda s, t, c: s.ensure_collection(t, Collection(c, 2)),
    "describe_collection": lambda s, t, c: s.describe_collection(t, c),
    "drop_collection": lambda s, t, c: s.drop_collection(t, c),
    "count": lambda s, t, c: s.count(t, c),
    "upsert": lambda s, t, c: s.upsert(t, c, [{"id": "a", "vector": [1.0, 0.0]}]),
    "search": lambda s, t, c: s.search(t, c, [1.0, 0.0]),
    "search_many": lambda s, t, c: s.search_many(t, c, [[1.0, 0.0]]),
    "delete": lambda s, t, c: s.delete(t, c, ["a"]),
    "list_ids": lambda s, t, c: s.list_ids(t, c),
}


@pytest.mark.parametrize("bad", BAD_NAMES, ids=BAD_NAME_IDS)
@pytest.mark.parametrize("call", NAMED_CALLS.values(), ids=NAMED_CALLS.keys())
def test_invalid_tenant_is_rejected_by_every_method(
    store: nighdb.Store, call: Call, bad: object
) -> None:
    with raises(InvalidArgumentError):
        call(store, bad, "docs")
    assert store.list_tenants() == []


@pytest.mark.parametrize("bad", BAD_NAMES, ids=BAD_NAME_IDS)
def test_invalid_tenant_is_rejected_by_list_collections(store: nighdb.Store, bad: object) -> None:
    with raises(InvalidArgumentError):
        store.list_collections(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=BAD_NAME_IDS)
@pytest.mark.parametrize("call", NAMED_CALLS.values(), ids=NAMED_CALLS.keys())
def test_invalid_collection_name_is_rejected_by_every_method(
    store: nighdb.Store, call: Call, bad: object
) -> None:
    make(store, "docs")
    with raises(InvalidArgumentError):
        call(store, TENANT, bad)
    assert [c.name for c in store.list_collections(TENANT)] == ["docs"]


def test_length_limits_count_characters(store: nighdb.Store) -> None:
    # 256 characters are fine for tenants and names, 1024 for ids, even when each character
    # takes 4 bytes in UTF-8 (and 2 code units in UTF-16).
    for tenant, name in [("t" * 256, "n" * 256), ("😀" * 256, "é" * 256)]:
        make(store, name, tenant=tenant)
        for item_id in ["i" * 1024, "😀" * 1024]:
            assert store.upsert(tenant, name, [{"id": item_id, "vector": [1.0, 0.0]}]) == 1
        assert sorted(store.list_ids(tenant, name)) == sorted(["i" * 1024, "😀" * 1024])
        assert [c.name for c in store.list_collections(tenant)] == [name]
    assert store.list_tenants() == ["t" * 256, "😀" * 256]


WEIRD = [
    "a'b",
    'a"b',
    "a b",
    "a/b",
    "a\\b",
    ".",
    "..",
    "ünïcødé",
    "日本語",
    "😀",
    "; DROP TABLE nigh_collections; --",
    "Robert'); DROP TABLE items;--",
    "%2F",
    "a\nb\tc",
    "*",
    "?",
    "$and",
    " leading",
    "trailing ",
    "NULL",
    "[0]",
    "a.b",
    "`x`",
    "\u200b",
]


@pytest.mark.parametrize("weird", WEIRD)
def test_any_other_character_round_trips(store: nighdb.Store, weird: str) -> None:
    # The same string as tenant, collection name and item id.
    pin = store.ensure_collection(weird, Collection(weird, 2, weird, "l2"))
    assert pin == Collection(weird, 2, weird, "l2")
    assert store.list_tenants() == [weird]
    assert store.list_collections(weird) == [pin]
    assert store.describe_collection(weird, weird) == pin
    item = {"id": weird, "vector": [1.0, 2.0], "metadata": {weird: weird}, "text": weird}
    assert store.upsert(weird, weird, [item]) == 1
    assert store.list_ids(weird, weird) == [weird]
    assert store.count(weird, weird) == 1
    [match] = store.search(weird, weird, [1.0, 2.0], filter={"id": weird})
    assert (match.id, match.metadata, match.text) == (weird, {weird: weird}, weird)
    if not weird.startswith("$"):  # "$…" keys are reserved for combinators in filters
        assert ids(store.search(weird, weird, [1.0, 2.0], filter={weird: weird})) == [weird]
    assert store.delete(weird, weird, [weird]) == 1
    assert store.drop_collection(weird, weird) == 0
    assert store.list_tenants() == []


def test_weird_ids_coexist_in_one_collection(store: nighdb.Store) -> None:
    make(store, "docs")
    items = [{"id": w, "vector": [1.0, float(n)]} for n, w in enumerate(WEIRD)]
    assert store.upsert(TENANT, "docs", items) == len(WEIRD)
    assert sorted(store.list_ids(TENANT, "docs")) == sorted(WEIRD)
    for w in WEIRD:
        assert ids(store.search(TENANT, "docs", [1.0, 0.0], filter={"id": w})) == [w]


def test_weird_collection_names_in_one_tenant_stay_distinct(store: nighdb.Store) -> None:
    for n, w in enumerate(WEIRD, start=1):
        make(store, w, n)
    assert [c.name for c in store.list_collections(TENANT)] == sorted(WEIRD)
    for n, w in enumerate(WEIRD, start=1):
        assert store.describe_collection(TENANT, w) == Collection(w, n)
