"""LangChain's Mongo-style filters mean, once translated, what they mean in Mongo-style stores.

The oracle below reads the Mongo-style operators directly (``$between`` inclusive at both
ends, ``$nin`` as the negation of ``$in``, ``$exists`` as present-and-not-null), with §6's
typed comparisons; the translated filter is evaluated by ``tests/reference_filter.py``, the
independent reading of §6. Both must agree on every generated filter and item.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nighdb.integrations.langchain_filters import to_nigh_filter

from .reference_filter import json_type, matches

FIELDS = ["a", "b", "c"]
SCALARS = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y", "z"]), st.booleans())
ORDERED = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y", "z"]))
METADATA = st.dictionaries(st.sampled_from(FIELDS), st.one_of(SCALARS, st.none()), max_size=3)


def _same(value: object, operand: object) -> bool:
    kind = json_type(value)
    return (
        kind in ("number", "string", "boolean") and kind == json_type(operand) and value == operand
    )


def _ordered(value: object, operand: object) -> bool:
    kind = json_type(value)
    return kind in ("number", "string") and kind == json_type(operand)


def _condition(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return _same(value, operand)
    if operator == "$ne":
        return not _same(value, operand)
    if operator == "$in":
        return any(_same(value, o) for o in operand)
    if operator == "$nin":
        return not any(_same(value, o) for o in operand)
    if operator == "$exists":
        return (value is not None) is operand
    if operator == "$between":
        low, high = operand
        return _ordered(value, low) and _ordered(value, high) and low <= value <= high
    if not _ordered(value, operand):
        return False
    return bool(
        {
            "$gt": value > operand,
            "$gte": value >= operand,
            "$lt": value < operand,
            "$lte": value <= operand,
        }[operator]
    )


def mongo_matches(filter: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    for key, value in filter.items():
        if key == "$and":
            ok = all(mongo_matches(part, metadata) for part in value)
        elif key == "$or":
            ok = any(mongo_matches(part, metadata) for part in value)
        elif key == "$not":
            ok = not mongo_matches(value, metadata)
        elif isinstance(value, Mapping):
            ok = all(_condition(metadata.get(key), op, arg) for op, arg in value.items())
        else:
            ok = _same(metadata.get(key), value)
        if not ok:
            return False
    return True


def _ranges(kind: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        # Never {}: an empty operator object is invalid_argument in §6.
        st.fixed_dictionaries(
            {}, optional={op: kind for op in ("$gt", "$gte", "$lt", "$lte")}
        ).filter(bool),
        st.tuples(kind, kind).map(lambda pair: {"$between": sorted(pair)}),
    )


CONDITIONS = st.one_of(
    SCALARS,
    SCALARS.map(lambda v: {"$eq": v}),
    SCALARS.map(lambda v: {"$ne": v}),
    st.lists(SCALARS, max_size=3).map(lambda v: {"$in": v}),
    st.lists(SCALARS, max_size=3).map(lambda v: {"$nin": v}),
    st.booleans().map(lambda v: {"$exists": v}),
    _ranges(st.integers(-3, 3)),
    _ranges(st.sampled_from(["x", "y", "z"])),
)
LEAVES = st.dictionaries(st.sampled_from(FIELDS), CONDITIONS, min_size=1, max_size=2)
FILTERS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda parts: {"$and": parts}),
        st.lists(inner, max_size=3).map(lambda parts: {"$or": parts}),
        inner.map(lambda part: {"$not": part}),
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(FILTERS, st.lists(METADATA, min_size=1, max_size=5))
def test_translated_filters_keep_their_mongo_meaning(
    filter: dict[str, Any], items: list[dict[str, Any]]
) -> None:
    translated = to_nigh_filter(filter)
    for metadata in items:
        assert matches(translated, "id", metadata) == mongo_matches(filter, metadata)
