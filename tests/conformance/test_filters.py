"""Filters (contract §6, §12): syntax, typed semantics, invalid filters, plain-data safety.

Every expected id set is written out by hand: the suite is the specification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import nighdb
from nighdb import InvalidArgumentError

from ._helpers import TENANT, ids, make, matching, raises

# One field "v" holding every JSON type, plus an item without it.
TYPED: dict[str, dict[str, Any]] = {
    "int12": {"v": 12},
    "float12": {"v": 12.0},
    "float12.5": {"v": 12.5},
    "int1": {"v": 1},
    "int0": {"v": 0},
    "neg": {"v": -7},
    "str12": {"v": "12"},
    "strtrue": {"v": "true"},
    "true": {"v": True},
    "false": {"v": False},
    "null": {"v": None},
    "arr": {"v": [12, "B"]},
    "obj": {"v": {"w": 12}},
    "absent": {"other": 12},
    "strB": {"v": "B"},
    "stra": {"v": "a"},
    "strz": {"v": "z"},
    "stré": {"v": "é"},
}
ALL = set(TYPED)


@pytest.fixture
def typed(store: nighdb.Store) -> nighdb.Store:
    make(store, "docs", 2)
    store.upsert(
        TENANT,
        "docs",
        [{"id": i, "vector": [1.0, 0.0], "metadata": m} for i, m in TYPED.items()],
    )
    return store


def _without(*excluded: str) -> set[str]:
    return ALL - set(excluded)


CASES: list[tuple[Any, set[str]]] = [
    # match everything
    (None, ALL),
    ({}, ALL),
    ({"$and": []}, ALL),
    ({"$and": [{}]}, ALL),
    ({"$or": []}, set()),
    ({"$not": {}}, set()),
    # scalar value = eq, typed
    ({"v": 12}, {"int12", "float12"}),
    ({"v": 12.0}, {"int12", "float12"}),
    ({"v": 12.5}, {"float12.5"}),
    ({"v": "12"}, {"str12"}),
    ({"v": True}, {"true"}),
    ({"v": False}, {"false"}),
    ({"v": 1}, {"int1"}),
    ({"v": 0}, {"int0"}),
    ({"v": "true"}, {"strtrue"}),
    ({"v": "b"}, set()),  # case-sensitive
    ({"v": "E"}, set()),
    ({"v": "w"}, set()),  # not a key inside obj
    ({"other": 12}, {"absent"}),
    ({"nowhere": 12}, set()),
    # list value = in
    ({"v": [12, "B", True]}, {"int12", "float12", "strB", "true"}),
    ({"v": ["12", 1]}, {"str12", "int1"}),
    ({"v": [False, 0]}, {"false", "int0"}),
    ({"v": []}, set()),
    ({"v": [-7]}, {"neg"}),
    # eq / ne
    ({"v": {"eq": 12}}, {"int12", "float12"}),
    ({"v": {"ne": 12}}, _without("int12", "float12")),
    ({"v": {"ne": True}}, _without("true")),
    ({"v": {"ne": "B"}}, _without("strB")),  # arr holds "B" but is a value, not a set
    ({"v": {"ne": 1}}, _without("int1")),
    # in / not_in
    ({"v": {"in": [12, "z"]}}, {"int12", "float12", "strz"}),
    ({"v": {"in": 12}}, {"int12", "float12"}),  # a scalar operand is a one-element list
    ({"v": {"in": "a"}}, {"stra"}),
    ({"v": {"in": []}}, set()),
    ({"v": {"not_in": []}}, ALL),
    ({"v": {"not_in": [12, "a"]}}, _without("int12", "float12", "stra")),
    ({"v": {"not_in": "B"}}, _without("strB")),
    ({"v": {"not_in": [True, False]}}, _without("true", "false")),
    # numeric ranges: numbers only (never strings, bools, arrays, objects, null, absent)
    ({"v": {"gt": 1}}, {"int12", "float12", "float12.5"}),
    ({"v": {"gte": 1}}, {"int12", "float12", "float12.5", "int1"}),
    ({"v": {"lt": 1}}, {"int0", "neg"}),
    ({"v": {"lte": 12}}, {"int12", "float12", "int1", "int0", "neg"}),
    ({"v": {"lt": 12.0}}, {"int1", "int0", "neg"}),
    ({"v": {"gt": 12}}, {"float12.5"}),
    ({"v": {"gte": 12.0, "lte": 12}}, {"int12", "float12"}),
    ({"v": {"gt": -100}}, {"int12", "float12", "float12.5", "int1", "int0", "neg"}),
    ({"v": {"gt": 0.5, "lt": 12.25}}, {"int12", "float12", "int1"}),
    # string ranges: code point order, strings only ("12" < "B" < "a" < "true" < "z" < "é")
    ({"v": {"gt": "B"}}, {"stra", "strtrue", "strz", "stré"}),
    ({"v": {"gte": "B"}}, {"strB", "stra", "strtrue", "strz", "stré"}),
    ({"v": {"lt": "a"}}, {"str12", "strB"}),
    ({"v": {"lte": "a"}}, {"str12", "strB", "stra"}),
    ({"v": {"gt": "z"}}, {"stré"}),
    ({"v": {"gt": "Z", "lt": "b"}}, {"stra"}),
    ({"v": {"lt": ""}}, set()),
    ({"v": {"gte": ""}}, {"str12", "strB", "stra", "strtrue", "strz", "stré"}),
    # exists
    ({"v": {"exists": True}}, _without("null", "absent")),
    ({"v": {"exists": False}}, {"null", "absent"}),
    ({"other": {"exists": True}}, {"absent"}),
    ({"nowhere": {"exists": False}}, ALL),
    # several operators and several keys are ANDed
    ({"v": {"exists": True, "ne": 12, "in": [12, 1, "a"]}}, {"int1", "stra"}),
    ({"v": 12, "other": 12}, set()),
    ({"v": {"exists": False}, "other": 12}, {"absent"}),
    # combinators
    ({"$or": [{"v": 1}, {"v": "a"}]}, {"int1", "stra"}),
    ({"$and": [{"v": {"gte": 1}}, {"v": {"lt": 12}}]}, {"int1"}),
    ({"$not": {"v": 12}}, _without("int12", "float12")),
    ({"$not": {"v": {"exists": True}}}, {"null", "absent"}),
    ({"$not": {"$or": []}}, ALL),
    ({"$not": {"$and": []}}, set()),
    (
        {"$or": [{"v": {"gt": 12}}, {"$and": [{"v": {"lt": 1}}, {"$not": {"v": -7}}]}]},
        {"float12.5", "int0"},
    ),
    ({"$and": [{"$or": [{"v": True}, {"v": False}]}, {"$not": {"v": False}}]}, {"true"}),
    ({"v": {"gte": 0}, "$or": [{"v": 0}, {"v": 12.5}]}, {"int0", "float12.5"}),
    ({"$or": [{"$or": [{"$or": [{"v": "z"}]}]}, {"$not": {"$not": {"v": "a"}}}]}, {"strz", "stra"}),
    # the id field
    ({"id": "int12"}, {"int12"}),
    ({"id": ["int12", "stra", "missing"]}, {"int12", "stra"}),
    ({"id": {"ne": "int12"}}, _without("int12")),
    ({"id": {"not_in": ["int12", "int1"]}}, _without("int12", "int1")),
    ({"id": {"gte": "str", "lt": "strb"}}, {"str12", "strB", "stra"}),
    ({"id": {"gt": "strz"}}, {"stré", "true"}),
    ({"id": {"exists": True}}, ALL),
    ({"id": 12}, set()),  # ids are strings
    ({"id": "INT12"}, set()),
    ({"id": "int12", "v": 12.0}, {"int12"}),
]


@pytest.mark.parametrize(("flt", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_filter_selects_exactly(typed: nighdb.Store, flt: Any, expected: set[str]) -> None:
    assert matching(typed, flt) == expected


def test_negations_are_exact_complements(typed: nighdb.Store) -> None:
    # ne/not_in/$not are the exact negation of eq/in (contract §12): absent, null, other types,
    # arrays and objects all pass ne.
    operands: list[Any] = [12, "B", True, False, "12", 0, -7, "nothing"]
    for operand in operands:
        eq = matching(typed, {"v": operand})
        assert matching(typed, {"v": {"ne": operand}}) == ALL - eq
        assert matching(typed, {"$not": {"v": operand}}) == ALL - eq
        assert matching(typed, {"v": {"not_in": [operand]}}) == ALL - eq
        assert {"null", "absent", "arr", "obj"} <= ALL - eq
    for rng in [{"gt": 1}, {"lte": "B"}, {"gte": 0, "lt": 100}]:
        inside = matching(typed, {"v": rng})
        assert matching(typed, {"$not": {"v": rng}}) == ALL - inside


def test_filter_results_are_ranked(typed: nighdb.Store) -> None:
    make(typed, "ranked", 2, metric="l2")
    typed.upsert(
        TENANT,
        "ranked",
        [
            {"id": f"i{n}", "vector": [float(n), 0.0], "metadata": {"even": n % 2 == 0}}
            for n in range(10)
        ],
    )
    got = typed.search(TENANT, "ranked", [9.0, 0.0], limit=3, filter={"even": True})
    assert ids(got) == ["i8", "i6", "i4"]
    assert [m.distance for m in got] == pytest.approx([1.0, 3.0, 5.0], abs=1e-6)


def test_filters_see_the_latest_metadata(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": {"v": 1}}])
    store.upsert(TENANT, "docs", [{"id": "b", "vector": [1.0, 0.0], "metadata": {"v": 1}}])
    assert matching(store, {"v": 1}) == {"a", "b"}
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": {"v": 2}}])
    assert matching(store, {"v": 1}) == {"b"}
    assert matching(store, {"v": 2}) == {"a"}
    store.upsert(TENANT, "docs", [{"id": "b", "vector": [1.0, 0.0]}])  # metadata now {}
    assert matching(store, {"v": 1}) == set()
    assert matching(store, {"v": {"exists": False}}) == {"b"}
    store.delete(TENANT, "docs", ["a"])
    assert matching(store, {"v": 2}) == set()
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": {"v": "x"}}])
    assert matching(store, {"v": "x"}) == {"a"}
    assert matching(store, {"v": {"ne": 2}}) == {"a", "b"}


def test_filters_see_writes_of_another_store(
    store_factory: Callable[[], nighdb.Store],
) -> None:
    one, two = store_factory(), store_factory()
    make(one, "docs", 2)
    one.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": {"v": 1}}])
    assert matching(two, {"v": 1}) == {"a"}
    one.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": {"v": 2}}])
    assert matching(two, {"v": 1}) == set()
    assert matching(two, {"v": 2}) == {"a"}
    one.upsert(TENANT, "docs", [{"id": "b", "vector": [0.0, 1.0], "metadata": {"v": 2}}])
    assert matching(two, {"v": 2}) == {"a", "b"}
    one.delete(TENANT, "docs", ["a"])
    assert matching(two, {"v": 2}) == {"b"}
    assert matching(two, {"v": {"exists": True}}) == {"b"}


# -- structure: arrays, objects, dots, text, id ----------------------------------------------


@pytest.fixture
def shaped(store: nighdb.Store) -> nighdb.Store:
    make(store, "docs", 2)
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "tags-xy", "vector": [1.0, 0.0], "metadata": {"tags": ["x", "y"]}},
            {"id": "tags-x", "vector": [1.0, 0.0], "metadata": {"tags": "x"}},
            {"id": "tags-empty", "vector": [1.0, 0.0], "metadata": {"tags": []}},
            {"id": "nested", "vector": [1.0, 0.0], "metadata": {"a": {"b": 1}}},
            {"id": "dotted", "vector": [1.0, 0.0], "metadata": {"a.b": 1}},
            {
                "id": "texted",
                "vector": [1.0, 0.0],
                "metadata": {"text": "metadata text"},
                "text": "item text",
            },
            {"id": "plain-text", "vector": [1.0, 0.0], "text": "item text"},
            {"id": "meta-id", "vector": [1.0, 0.0], "metadata": {"id": "tags-x"}},
            {"id": "obj", "vector": [1.0, 0.0], "metadata": {"o": {"k": "v"}}},
        ],
    )
    return store


SHAPED_CASES: list[tuple[Any, set[str]]] = [
    ({"tags": "x"}, {"tags-x"}),  # an array is a value, not a set
    ({"tags": ["x", "y"]}, {"tags-x"}),  # a list filter is "in", never array equality
    ({"tags": {"in": ["y"]}}, set()),
    (
        {"tags": {"ne": "x"}},
        {"tags-xy", "tags-empty", "nested", "dotted", "texted"} | {"plain-text", "meta-id", "obj"},
    ),
    ({"tags": {"exists": True}}, {"tags-xy", "tags-x", "tags-empty"}),
    ({"tags": {"gt": ""}}, {"tags-x"}),  # ranges never match arrays
    ({"tags": {"lt": 1000}}, set()),
    ({"o": {"gt": ""}}, set()),  # nor objects
    ({"o": {"exists": True}}, {"obj"}),
    ({"o": "v"}, set()),
    ({"k": "v"}, set()),  # fields are top-level keys only
    ({"a.b": 1}, {"dotted"}),  # a dot is just a character
    ({"a": {"exists": True}}, {"nested"}),
    ({"text": "metadata text"}, {"texted"}),  # the metadata key, not the item's text
    ({"text": "item text"}, set()),
    ({"text": {"exists": True}}, {"texted"}),
    ({"id": "tags-x"}, {"tags-x"}),  # the item id, not the metadata key "id"
    ({"id": "meta-id"}, {"meta-id"}),
]


@pytest.mark.parametrize(("flt", "expected"), SHAPED_CASES, ids=[repr(c[0]) for c in SHAPED_CASES])
def test_structured_values_and_field_names(
    shaped: nighdb.Store, flt: Any, expected: set[str]
) -> None:
    assert matching(shaped, flt) == expected


def test_nested_object_filter_is_an_unknown_operator(shaped: nighdb.Store) -> None:
    # {"a": {"b": 1}} is an operator object, and "b" is not an operator: paths do not exist.
    with raises(InvalidArgumentError):
        shaped.search(TENANT, "docs", [1.0, 0.0], filter={"a": {"b": 1}})


# -- numbers at the edges ----------------------------------------------------------------------


def test_large_integers_compare_exactly(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    values = {"p53": 2**53, "p53+1": 2**53 + 1, "max": 2**63 - 1, "min": -(2**63), "zero": 0}
    store.upsert(
        TENANT,
        "docs",
        [{"id": i, "vector": [1.0, 0.0], "metadata": {"n": v}} for i, v in values.items()],
    )
    assert matching(store, {"n": 2**53 + 1}) == {"p53+1"}
    assert matching(store, {"n": 2**53}) == {"p53"}
    assert matching(store, {"n": 2**63 - 1}) == {"max"}
    assert matching(store, {"n": -(2**63)}) == {"min"}
    assert matching(store, {"n": {"gt": 2**53}}) == {"p53+1", "max"}
    assert matching(store, {"n": {"lt": 0}}) == {"min"}
    assert matching(store, {"n": [2**63 - 1, 0]}) == {"max", "zero"}


# -- invalid filters ---------------------------------------------------------------------------

INVALID: list[Any] = [
    {"f": None},
    {"f": {"eq": None}},
    {"f": {"ne": None}},
    {"f": {"gt": None}},
    {"f": {"in": None}},
    {"f": [1, None]},
    {"f": {"in": [1, None]}},
    {"f": {"not_in": [None]}},
    {"": 1},
    {"": {"exists": True}},
    {"f": {"regex": "x"}},
    {"f": {"$eq": 1}},
    {"f": {"EQ": 1}},
    {"f": {"eq": 1, "bogus": 2}},
    {"$xor": [{"f": 1}]},
    {"$nor": [{"f": 1}]},
    {"$": 1},
    {"$AND": []},
    {"$f": 1},
    {"f": {"gt": [1]}},
    {"f": {"gt": True}},
    {"f": {"lte": False}},
    {"f": {"lt": {"a": 1}}},
    {"f": {"eq": {"a": 1}}},
    {"f": {"eq": [1]}},
    {"f": {"ne": [1]}},
    {"f": {"ne": {}}},
    {"f": {"in": [[1]]}},
    {"f": {"in": [{"a": 1}]}},
    {"f": {"in": {"a": 1}}},
    {"f": [[1, 2]]},
    {"f": [{"a": 1}]},
    {"f": {"exists": 1}},
    {"f": {"exists": "yes"}},
    {"f": {"exists": None}},
    {"f": {}},
    {"f": {"gt": float("nan")}},
    {"f": float("inf")},
    {"$and": {"f": 1}},
    {"$and": "f"},
    {"$and": [1]},
    {"$and": [None]},
    {"$and": [[{"f": 1}]]},
    {"$or": {"f": 1}},
    {"$or": [{"f": None}]},
    {"$not": [{"f": 1}]},
    {"$not": 5},
    {"$not": None},
    {"$not": {"f": {}}},
    {"$and": [{"$or": [{"f": {"bad": 1}}]}]},
    {"id": None},
    {"id": {"gt": True}},
    {"f": b"bytes"},
]


@pytest.mark.parametrize("flt", INVALID, ids=[repr(f) for f in INVALID])
def test_invalid_filter(typed: nighdb.Store, flt: Any) -> None:
    with raises(InvalidArgumentError):
        typed.search(TENANT, "docs", [1.0, 0.0], filter=flt)
    with raises(InvalidArgumentError):
        typed.search_many(TENANT, "docs", [[1.0, 0.0]], filter=flt)


@pytest.mark.parametrize("flt", ["v", ["v"], 12, [{"v": 12}]], ids=repr)
def test_a_filter_must_be_an_object(typed: nighdb.Store, flt: Any) -> None:
    with raises(InvalidArgumentError):
        typed.search(TENANT, "docs", [1.0, 0.0], filter=flt)


def test_invalid_filter_on_an_empty_collection_is_still_invalid(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    with raises(InvalidArgumentError):
        store.search(TENANT, "docs", [1.0, 0.0], filter={"f": {}})


# -- field names and values are plain data -----------------------------------------------------

HOSTILE_KEYS = [
    "x'); DROP TABLE items; --",
    'x"); DROP TABLE nigh_collections; --',
    'he said "hi"',
    "it's",
    "back\\slash",
    "trailing\\",
    "[0]",
    "a[0]",
    "*",
    "$.x",
    "a$b",
    "#",
    "?",
    ":name",
    "%s",
    "{}",
    "'",
    '"',
    "\\",
    "ünï 😀",
    "a\nb",
    "--",
    "/* c */",
]
HOSTILE_VALUES = [
    "x'); DROP TABLE items; --",
    "' OR '1'='1",
    '" OR "1"="1',
    "\\",
    "\\'",
    "%",
    "_",
    "*",
    "?",
    "NULL",
    "null",
    "true",
    "$.v",
]


def test_hostile_keys_and_values_are_plain_data(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    make(store, "bystander", 2)
    store.upsert(TENANT, "bystander", [{"id": "safe", "vector": [1.0, 0.0]}])
    items = []
    for k, key in enumerate(HOSTILE_KEYS):
        for v, value in enumerate(HOSTILE_VALUES):
            items.append({"id": f"{k}-{v}", "vector": [1.0, 0.0], "metadata": {key: value}})
    store.upsert(TENANT, "docs", items)
    for k, key in enumerate(HOSTILE_KEYS):
        for v, value in enumerate(HOSTILE_VALUES):
            if key.startswith("$"):
                continue  # reserved for combinators in filters; checked below
            assert matching(store, {key: value}) == {f"{k}-{v}"}, (key, value)
        if not key.startswith("$"):
            assert len(matching(store, {key: {"exists": True}})) == len(HOSTILE_VALUES)
            assert matching(store, {key: {"gte": "%", "lte": "%"}}) == {
                f"{k}-{HOSTILE_VALUES.index('%')}"
            }
    # "%" and "_" are not LIKE wildcards, "*" is not a glob.
    assert len(matching(store, {"*": "%"})) == 1
    with raises(InvalidArgumentError):
        store.search(TENANT, "docs", [1.0, 0.0], filter={"$.x": "NULL"})
    # Hostile ids in id filters.
    for value in HOSTILE_VALUES:
        assert matching(store, {"id": value}) == set()
    assert store.count(TENANT, "docs") == len(items)
    assert store.list_ids(TENANT, "bystander") == ["safe"]
    assert [c.name for c in store.list_collections(TENANT)] == ["bystander", "docs"]
