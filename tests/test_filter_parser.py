"""``nighdb.filters.parse_filter`` (contract §6, §12): the normalised tree, and every malformed
filter rejected as ``invalid_argument`` — the same error on every backend, because they all
share this parser."""

from __future__ import annotations

from typing import Any

import pytest

import nighdb
from nighdb.filters import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_NODES,
    And,
    Compare,
    Exists,
    In,
    Not,
    Or,
    parse_filter,
)

from .reference_filter import valid

NAN, INF = float("nan"), float("inf")


def _rejects(spec: Any) -> nighdb.InvalidArgumentError:
    with pytest.raises(nighdb.NighError) as info:
        parse_filter(spec)
    err = info.value
    assert type(err) is nighdb.InvalidArgumentError, f"{type(err).__name__}: {err}"
    assert err.code == "invalid_argument"
    assert err.reason  # the message says what is wrong
    return err


def _nested_not(levels: int) -> dict[str, Any]:
    """A filter ``levels`` objects deep: ``{"$not": {"$not": … {"a": 1}}}``."""
    spec: dict[str, Any] = {"a": 1}
    for _ in range(levels - 1):
        spec = {"$not": spec}
    return spec


# -- normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, {}])
def test_empty_filters_match_everything(spec: Any) -> None:
    assert parse_filter(spec) is None


def test_and_of_nothing_matches_everything_or_of_nothing_matches_nothing() -> None:
    assert parse_filter({"$and": []}) in (None, And(()))
    assert parse_filter({"$or": []}) == Or(())


@pytest.mark.parametrize(
    ("spec", "tree"),
    [
        ({"genre": "adventure"}, Compare("genre", "eq", "adventure")),
        ({"n": 12}, Compare("n", "eq", 12)),
        ({"n": 1.5}, Compare("n", "eq", 1.5)),
        ({"flag": False}, Compare("flag", "eq", False)),
        ({"n": {"eq": 3}}, Compare("n", "eq", 3)),
        ({"n": {"gt": 3}}, Compare("n", "gt", 3)),
        ({"n": {"gte": -1.5}}, Compare("n", "gte", -1.5)),
        ({"s": {"lt": "m"}}, Compare("s", "lt", "m")),
        ({"s": {"lte": ""}}, Compare("s", "lte", "")),
        ({"id": "doc-1"}, Compare("id", "eq", "doc-1")),
        # Fields are literal keys: a dot, "text", a quote are just characters.
        ({"a.b": 1}, Compare("a.b", "eq", 1)),
        ({"text": "x"}, Compare("text", "eq", "x")),
        ({'q "x" é': "y"}, Compare('q "x" é', "eq", "y")),
    ],
)
def test_comparisons(spec: dict[str, Any], tree: Any) -> None:
    assert parse_filter(spec) == tree
    assert valid(spec)


@pytest.mark.parametrize(
    ("spec", "tree"),
    [
        ({"g": ["cozy", "scifi"]}, In("g", ("cozy", "scifi"))),
        ({"g": {"in": ["cozy", 1, True]}}, In("g", ("cozy", 1, True))),
        ({"g": []}, In("g", ())),
        ({"g": {"in": []}}, In("g", ())),
        # A scalar operand of in/not_in is a one-element list.
        ({"g": {"in": "cozy"}}, In("g", ("cozy",))),
        ({"g": {"in": 7}}, In("g", (7,))),
        ({"g": {"not_in": False}}, Not(In("g", (False,)))),
        ({"g": {"not_in": ["a", "b"]}}, Not(In("g", ("a", "b")))),
        ({"g": {"not_in": []}}, Not(In("g", ()))),
    ],
)
def test_membership(spec: dict[str, Any], tree: Any) -> None:
    assert parse_filter(spec) == tree
    assert valid(spec)


def test_negations_are_nots_of_their_positive_forms() -> None:
    assert parse_filter({"g": {"ne": "x"}}) == Not(Compare("g", "eq", "x"))
    assert parse_filter({"g": {"ne": 0}}) == Not(Compare("g", "eq", 0))
    assert parse_filter({"g": {"exists": True}}) == Exists("g")
    assert parse_filter({"g": {"exists": False}}) == Not(Exists("g"))


def test_several_keys_and_several_operators_are_anded() -> None:
    assert parse_filter({"a": 1, "b": ["x"]}) == And((Compare("a", "eq", 1), In("b", ("x",))))
    assert parse_filter({"age": {"gte": 9, "lt": 18}}) == And(
        (Compare("age", "gte", 9), Compare("age", "lt", 18))
    )


def test_combinators() -> None:
    a, b = Compare("a", "eq", 1), Compare("b", "eq", 2)
    assert parse_filter({"$and": [{"a": 1}, {"b": 2}]}) == And((a, b))
    assert parse_filter({"$or": [{"a": 1}, {"b": 2}]}) == Or((a, b))
    assert parse_filter({"$not": {"a": 1}}) == Not(a)
    assert parse_filter({"$or": [{"a": 1}], "b": 2}) == And((Or((a,)), b))
    assert parse_filter({"$not": {"$or": [{"a": 1, "b": 2}]}}) == Not(Or((And((a, b)),)))


def test_nested_empty_objects_keep_their_meaning() -> None:
    # {} matches everything wherever it appears, so $not {} matches nothing.
    assert parse_filter({"$or": [{}]}) == Or((And(()),))
    assert parse_filter({"$not": {}}) == Not(And(()))


def test_large_but_valid_filters_are_accepted() -> None:
    assert parse_filter(_nested_not(MAX_FILTER_DEPTH)) is not None
    assert parse_filter({"g": list(range(MAX_FILTER_NODES))}) == In(
        "g", tuple(range(MAX_FILTER_NODES))
    )


def test_extreme_but_valid_operands() -> None:
    assert parse_filter({"n": 2**63 - 1}) == Compare("n", "eq", 2**63 - 1)
    assert parse_filter({"n": {"lt": -(2**63)}}) == Compare("n", "lt", -(2**63))
    assert parse_filter({"n": {"gt": -0.0}}) == Compare("n", "gt", 0.0)
    assert parse_filter({"n": 1e308}) == Compare("n", "eq", 1e308)


# -- invalid_argument ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        # A null operand: use exists.
        {"f": None},
        {"f": {"eq": None}},
        {"f": {"ne": None}},
        {"f": {"gt": None}},
        {"f": {"in": None}},
        {"f": {"not_in": None}},
        {"f": {"exists": None}},
        # A null inside an in list.
        {"f": [None]},
        {"f": ["a", None]},
        {"f": {"in": [1, None]}},
        {"f": {"not_in": [None]}},
        # Field names.
        {"": 1},
        {"": {"exists": True}},
        {"a\x00b": 1},
        {"\x00": {"eq": 1}},
        # Unknown operators and reserved keys.
        {"f": {"equals": 1}},
        {"f": {"$eq": 1}},
        {"f": {"EQ": 1}},
        {"f": {"contains": "x"}},
        {"f": {"eq": 1, "nope": 2}},
        {"$nor": [{"a": 1}]},
        {"$": 1},
        {"$f": 1},
        {"$AND": []},
        # An empty operator object.
        {"f": {}},
        {"$and": [{"f": {}}]},
        # Wrong operand types: eq/ne/in elements are scalars …
        {"f": {"a": 1}},
        {"f": {"eq": {"a": 1}}},
        {"f": {"eq": []}},
        {"f": {"eq": [1]}},
        {"f": {"ne": ["x"]}},
        {"f": {"ne": {}}},
        {"f": [[1]]},
        {"f": [{"a": 1}]},
        {"f": {"in": [[1, 2]]}},
        {"f": {"in": {"a": 1}}},
        {"f": {"not_in": [{}]}},
        # … range operands are numbers or strings …
        {"f": {"gt": [1]}},
        {"f": {"gte": [1, 2]}},
        {"f": {"lt": {"a": 1}}},
        {"f": {"lte": True}},
        {"f": {"gt": False}},
        # … exists takes a boolean.
        {"f": {"exists": 1}},
        {"f": {"exists": 0}},
        {"f": {"exists": "true"}},
        {"f": {"exists": []}},
        # Values JSON cannot carry.
        {"f": NAN},
        {"f": INF},
        {"f": -INF},
        {"f": {"gt": NAN}},
        {"f": {"lt": INF}},
        {"f": {"eq": -INF}},
        {"f": [1.0, NAN]},
        {"f": {"not_in": [INF]}},
        # Not JSON types at all.
        {"f": b"bytes"},
        {"f": {"eq": 1j}},
        {"f": (1, 2)},
        {"f": {1, 2}},
        {1: "x"},
        {None: "x"},
        # Outside what a stored value can be (§1, §12): nighdb rejects such operands.
        {"f": 2**63},
        {"f": {"gt": -(2**63) - 1}},
        {"f": ["a\x00"]},
        {"f": {"eq": "\x00"}},
        # Strings that are not Unicode text (lone surrogates) cannot be stored or bound.
        {"\ud800": 1},
        {"a\udc80": {"exists": True}},
        {"f": "\ud800"},
        {"f": {"gte": "a\udfff"}},
        {"f": ["ok", "\udc80"]},
        {"f": {"not_in": "\ud800"}},
        # Malformed combinators.
        {"$and": {"a": 1}},
        {"$and": None},
        {"$and": "a"},
        {"$and": [None]},
        {"$and": [1]},
        {"$and": [[{"a": 1}]]},
        {"$or": {"a": 1}},
        {"$or": None},
        {"$or": [{"a": 1}, "b"]},
        {"$not": [{"a": 1}]},
        {"$not": None},
        {"$not": "a"},
        {"$not": []},
        {"$not": {"f": None}},
        {"$or": [{"$and": [{"f": {"gt": True}}]}]},
    ],
    ids=repr,
)
def test_invalid_filters(spec: Any) -> None:
    _rejects(spec)
    assert not valid(spec)  # the reference evaluator's reading of the contract agrees


@pytest.mark.parametrize("spec", [[{"a": 1}], "a", 1, True, [], ()], ids=repr)
def test_a_filter_must_be_an_object(spec: Any) -> None:
    _rejects(spec)


def test_nesting_deeper_than_the_limit() -> None:
    _rejects(_nested_not(MAX_FILTER_DEPTH + 1))
    # Far deeper still fails cleanly: a bounded walk, never a RecursionError.
    _rejects(_nested_not(100_000))
    deep: dict[str, Any] = {"a": 1}
    for _ in range(MAX_FILTER_DEPTH + 1):
        deep = {"$and": [deep]}
    _rejects(deep)


def test_more_predicates_than_the_limit() -> None:
    _rejects({"g": list(range(MAX_FILTER_NODES + 1))})
    _rejects({"g": {"not_in": list(range(MAX_FILTER_NODES + 1))}})
    _rejects({f"k{i}": i for i in range(MAX_FILTER_NODES + 1)})
    _rejects({"$or": [{"k": i} for i in range(MAX_FILTER_NODES + 1)]})


def test_error_message_names_the_field() -> None:
    assert "genre" in str(_rejects({"genre": None}))
    assert "genre" in str(_rejects({"genre": {"like": "x"}}))
