"""``nighdb.filters.fold``, the one traversal of a filter tree, on its own.

Two small dialects written here: one renders the leaves it is asked for as text, so the
rules the fold owns (the JSON-type split, the id, booleans, ``in: []``, ``exists`` on the
id, combinators of zero and one part) show as plain strings; one compiles a filter to a
Python predicate, which must agree with ``reference_filter`` (written from the contract alone)
on random data and filters. The columnar dialect of the SQLite backend is checked against
the same reference, without a store, including its "cannot decide exactly" answer.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from nighdb.backends.sqlite.columnar import FieldColumn, evaluate
from nighdb.filters import (
    MAX_FILTER_DEPTH,
    And,
    Compare,
    CompareOp,
    FilterDialect,
    FilterNode,
    Number,
    Or,
    fold,
    parse_filter,
)

from .reference_filter import json_type, matches
from .test_filter_property import IDS, cases, subfilters

# -- a dialect that renders what it is asked ----------------------------------------------


class Render:
    """Each leaf as text; it fails the test if the fold hands it what it must not."""

    def true(self) -> str:
        return "true"

    def false(self) -> str:
        return "false"

    def all_of(self, parts: Sequence[str]) -> str:
        assert len(parts) >= 2
        return "all(" + ", ".join(parts) + ")"

    def any_of(self, parts: Sequence[str]) -> str:
        assert len(parts) >= 2
        return "any(" + ", ".join(parts) + ")"

    def negate(self, part: str) -> str:
        return f"not({part})"

    def exists(self, field: str) -> str:
        return f"{self._field(field)} exists"

    def id_compare(self, op: CompareOp, value: str) -> str:
        assert type(value) is str
        return f"id {op} {value!r}"

    def id_in(self, values: Sequence[str]) -> str:
        assert values and all(type(v) is str for v in values)
        return f"id in {list(values)!r}"

    def compare_string(self, field: str, op: CompareOp, value: str) -> str:
        assert type(value) is str
        return f"{self._field(field)} str {op} {value!r}"

    def compare_number(self, field: str, op: CompareOp, value: Number) -> str:
        assert type(value) in (int, float)
        return f"{self._field(field)} num {op} {value!r}"

    def is_bool(self, field: str, value: bool) -> str:
        assert type(value) is bool
        return f"{self._field(field)} is {value}"

    def in_strings(self, field: str, values: Sequence[str]) -> str:
        assert values and all(type(v) is str for v in values)
        return f"{self._field(field)} str in {list(values)!r}"

    def in_numbers(self, field: str, values: Sequence[Number]) -> str:
        assert values and all(type(v) in (int, float) for v in values)
        return f"{self._field(field)} num in {list(values)!r}"

    @staticmethod
    def _field(field: str) -> str:
        assert field != "id", "the fold answers for the id itself"
        return field


RENDER: FilterDialect[str] = Render()


def render(spec: Mapping[str, Any]) -> str:
    tree = parse_filter(spec)
    assert tree is not None
    return fold(tree, RENDER)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # The operand's JSON type chooses the leaf; true is not 1, "1" is not 1.
        ({"f": True}, "f is True"),
        ({"f": 1}, "f num eq 1"),
        ({"f": 1.5}, "f num eq 1.5"),
        ({"f": "1"}, "f str eq '1'"),
        ({"f": {"lt": "b"}}, "f str lt 'b'"),
        ({"f": {"ne": False}}, "not(f is False)"),
        # in: one leaf per JSON type, strings, numbers, then false and true; 0 is no boolean.
        (
            {"f": ["b", 1, True, "a", 2.5, False, 0, True]},
            "any(f str in ['b', 'a'], f num in [1, 2.5, 0], f is False, f is True)",
        ),
        ({"f": [0, 1]}, "f num in [0, 1]"),
        ({"f": {"in": "x"}}, "f str in ['x']"),
        ({"f": [False]}, "f is False"),
        # in: [] matches nothing, not_in: [] everything.
        ({"f": []}, "false"),
        ({"f": {"not_in": []}}, "not(false)"),
        # The id is a string: other operand types never match it; it always exists.
        ({"id": "x"}, "id eq 'x'"),
        ({"id": {"gte": "a"}}, "id gte 'a'"),
        ({"id": 5}, "false"),
        ({"id": True}, "false"),
        ({"id": {"lt": 3}}, "false"),
        ({"id": ["a", 1, True, "b"]}, "id in ['a', 'b']"),
        ({"id": [1, False]}, "false"),
        ({"id": {"not_in": [1]}}, "not(false)"),
        ({"id": {"exists": True}}, "true"),
        ({"id": {"exists": False}}, "not(true)"),
        ({"f": {"exists": True}}, "f exists"),
        # Combinators: left to right; one part is itself; none is the identity.
        ({"a": 1, "b": {"gt": 2, "lte": 3}}, "all(a num eq 1, all(b num gt 2, b num lte 3))"),
        ({"$or": [{"a": 1}, {"$not": {"b": "x"}}]}, "any(a num eq 1, not(b str eq 'x'))"),
        ({"$or": [{"a": 1}]}, "a num eq 1"),
        ({"$and": [{"a": 1}]}, "a num eq 1"),
        ({"$or": []}, "false"),
        ({"$not": {"$or": []}}, "not(false)"),
        ({"$or": [{}, {"a": 1}]}, "any(true, a num eq 1)"),
    ],
)
def test_fold_asks_the_dialect_for_typed_leaves(spec: dict[str, Any], expected: str) -> None:
    assert render(spec) == expected


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
def test_ranges_on_booleans_never_match_even_in_a_hand_built_tree(op: CompareOp) -> None:
    # The parser rejects them (invalid_argument); the fold is total regardless.
    assert fold(Compare("f", op, True), RENDER) == "false"
    assert fold(Compare("id", op, False), RENDER) == "false"


def test_empty_combinators_are_their_identities() -> None:
    assert fold(And(()), RENDER) == "true"
    assert fold(Or(()), RENDER) == "false"


def test_fold_reaches_the_deepest_filter_the_parser_accepts() -> None:
    spec: dict[str, Any] = {"a": 1}
    for _ in range(MAX_FILTER_DEPTH - 1):
        spec = {"$not": spec}
    assert render(spec) == "not(" * (MAX_FILTER_DEPTH - 1) + "a num eq 1" + ")" * (
        MAX_FILTER_DEPTH - 1
    )


# -- a dialect that compiles to a Python predicate ----------------------------------------

Predicate = Callable[[str, Mapping[str, Any]], bool]

_OPS: dict[CompareOp, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _typed(kind: str, field: str, test: Callable[[Any], bool]) -> Predicate:
    def predicate(item_id: str, metadata: Mapping[str, Any]) -> bool:
        value = metadata.get(field)
        return json_type(value) == kind and test(value)

    return predicate


class Predicates:
    """Leaves as Python closures over ``(item_id, metadata)``; Python compares int and float
    exactly and str by code point, as contract §6 does."""

    def true(self) -> Predicate:
        return lambda item_id, metadata: True

    def false(self) -> Predicate:
        return lambda item_id, metadata: False

    def all_of(self, parts: Sequence[Predicate]) -> Predicate:
        return lambda item_id, metadata: all(p(item_id, metadata) for p in parts)

    def any_of(self, parts: Sequence[Predicate]) -> Predicate:
        return lambda item_id, metadata: any(p(item_id, metadata) for p in parts)

    def negate(self, part: Predicate) -> Predicate:
        return lambda item_id, metadata: not part(item_id, metadata)

    def exists(self, field: str) -> Predicate:
        return lambda item_id, metadata: metadata.get(field) is not None

    def id_compare(self, op: CompareOp, value: str) -> Predicate:
        return lambda item_id, metadata: _OPS[op](item_id, value)

    def id_in(self, values: Sequence[str]) -> Predicate:
        return lambda item_id, metadata: item_id in values

    def compare_string(self, field: str, op: CompareOp, value: str) -> Predicate:
        return _typed("string", field, lambda v: _OPS[op](v, value))

    def compare_number(self, field: str, op: CompareOp, value: Number) -> Predicate:
        return _typed("number", field, lambda v: _OPS[op](v, value))

    def is_bool(self, field: str, value: bool) -> Predicate:
        return _typed("boolean", field, lambda v: v is value)

    def in_strings(self, field: str, values: Sequence[str]) -> Predicate:
        return _typed("string", field, lambda v: v in values)

    def in_numbers(self, field: str, values: Sequence[Number]) -> Predicate:
        return _typed("number", field, lambda v: any(v == n for n in values))


PREDICATES: FilterDialect[Predicate] = Predicates()

Case = tuple[list[dict[str, Any]], list[dict[str, Any]]]
_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _every_filter(specs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], FilterNode | None]]:
    return [(dict(f), parse_filter(f)) for spec in specs for f in subfilters(spec)]


@_SETTINGS
@given(case=cases())
def test_a_python_dialect_of_the_fold_agrees_with_the_reference(case: Case) -> None:
    metas, specs = case
    for spec, tree in _every_filter(specs):
        if tree is None:
            continue
        predicate = fold(tree, PREDICATES)
        for item_id, meta in zip(IDS[: len(metas)], metas, strict=True):
            assert predicate(item_id, meta) == matches(spec, item_id, meta), (spec, item_id, meta)


# -- the columnar dialect, without a store ------------------------------------------------


@_SETTINGS
@given(case=cases())
def test_the_columnar_dialect_agrees_with_the_reference_or_declines(case: Case) -> None:
    metas, specs = case
    ids = IDS[: len(metas)]
    columns: dict[str, FieldColumn] = {"id": FieldColumn.from_strings(ids)}

    def column(field: str) -> FieldColumn:
        if field not in columns:
            columns[field] = FieldColumn.from_values([meta.get(field) for meta in metas])
        return columns[field]

    for spec, tree in _every_filter(specs):
        if tree is None:
            continue
        mask = evaluate(tree, column, len(metas))
        if mask is None:  # a number past 2**53 on either side: SQL decides (the store test)
            continue
        expected = [matches(spec, i, meta) for i, meta in zip(ids, metas, strict=True)]
        assert mask.tolist() == expected, spec


def test_the_columnar_dialect_declines_numbers_it_cannot_compare_exactly() -> None:
    big = FieldColumn.from_values([2**53 + 1, "x", 1])
    small = FieldColumn.from_values([2**53, "x", 1.5])
    columns = {"big": big, "small": small}

    def run(spec: dict[str, Any]) -> list[bool] | None:
        tree = parse_filter(spec)
        assert tree is not None
        mask = evaluate(tree, columns.__getitem__, 3)
        return None if mask is None else mask.tolist()

    assert run({"big": {"gt": 0}}) is None  # the column holds an integer past 2**53
    assert run({"big": [1, "x"]}) is None
    assert run({"small": 2**53 + 1}) is None  # the operand is past 2**53
    assert run({"small": {"in": [2**53 + 1]}}) is None
    assert run({"$or": [{"small": "x"}, {"big": 1}]}) is None  # anywhere in the tree
    # Strings, booleans and existence never need the numbers: decided here.
    assert run({"big": {"gte": "x"}}) == [False, True, False]
    assert run({"big": ["x", True]}) == [False, True, False]
    assert run({"big": {"exists": True}}) == [True, True, True]
    assert run({"small": {"gte": 2**53}}) == [True, False, False]
    assert run({"small": [1.5, 2**53]}) == [True, False, True]


def test_the_columnar_dialect_keeps_strings_in_code_point_order() -> None:
    values = ["b", "a", "é", "B", "\U00010000", "\uffff", 3, None, ["a"]]
    col = FieldColumn.from_values(values)
    n = len(values)
    for op in ("eq", "gt", "gte", "lt", "lte"):
        for operand in ("a", "b", "c", "é", "\uffff", "\U00010000", ""):
            tree = parse_filter({"f": {op: operand}})
            assert tree is not None
            mask = evaluate(tree, lambda _: col, n)
            assert mask is not None
            expected = [matches({"f": {op: operand}}, "x", {"f": v}) for v in values]
            assert mask.tolist() == expected, (op, operand)
    tree = parse_filter({"f": ["a", "zz", "é"]})
    assert tree is not None
    mask = evaluate(tree, lambda _: col, n)
    assert mask is not None
    assert np.flatnonzero(mask).tolist() == [1, 2]


@pytest.mark.parametrize("count", [1, 2, 16, 17, 40])
def test_the_columnar_dialect_answers_long_in_lists_like_short_ones(count: int) -> None:
    # Past a few operands the masks take another path (a table gather, np.isin): same answer.
    values: list[Any] = [f"s{i}" for i in range(30)] + [float(i) for i in range(30)]
    values += [i for i in range(30)] + [True, False, None, ["s1"], {"s": 1}, "zz", -0.0]
    col = FieldColumn.from_values(values)
    for operands in (
        [f"s{i}" for i in range(0, 2 * count, 2)],
        [i for i in range(1, 2 * count, 2)],
        [f"s{i}" for i in range(count)] + [float(i) + 0.5 for i in range(count)] + [0, True],
    ):
        tree = parse_filter({"f": operands})
        assert tree is not None
        mask = evaluate(tree, lambda _: col, len(values))
        assert mask is not None
        expected = [matches({"f": operands}, "x", {"f": v}) for v in values]
        assert mask.tolist() == expected, operands
