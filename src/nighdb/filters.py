"""The filter language (contract §6): parse and validate a JSON-style filter into a small tree.

The tree is the one place where filter *shape* is decided; each backend compiles it to its
own SQL dialect, so semantics are specified once. Parsing normalises:

* ``ne`` → ``Not(Compare eq)`` and ``not_in`` → ``Not(In)``: the contract defines them as the exact
  negation of ``eq``/``in``, so backends never implement them separately;
* ``exists: false`` → ``Not(Exists)``;
* a scalar ``in`` operand → a one-element list; several keys or operators → ``And``.

Fields: ``id`` is the item id; any other field is a literal top-level metadata key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .errors import InvalidArgumentError
from .jsontext import check_unicode
from .models import INT64_MAX, INT64_MIN

__all__ = [
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_NODES",
    "And",
    "Compare",
    "Exists",
    "FilterNode",
    "In",
    "Not",
    "Or",
    "Scalar",
    "parse_filter",
]

Scalar: TypeAlias = str | int | float | bool
CompareOp = Literal["eq", "gt", "gte", "lt", "lte"]

MAX_FILTER_DEPTH = 32
"""Deeper nesting is ``invalid_argument``: it bounds recursion in every backend."""

MAX_FILTER_NODES = 4096
"""More predicates (counting ``in`` elements) is ``invalid_argument``: it bounds SQL size."""


_RANGE_OPS = frozenset({"gt", "gte", "lt", "lte"})
_OPERATORS = frozenset({"eq", "ne", "in", "not_in", "exists"}) | _RANGE_OPS
_COMBINATORS = frozenset({"$and", "$or", "$not"})


@dataclass(frozen=True)
class Compare:
    """``field op value``; the value's JSON type decides what it can match."""

    field: str
    op: CompareOp
    value: Scalar


@dataclass(frozen=True)
class In:
    """``field`` equals one of ``values`` (an empty tuple matches nothing)."""

    field: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Exists:
    """``field`` is present and not null."""

    field: str


@dataclass(frozen=True)
class And:
    """All children match (no children: everything matches)."""

    children: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Or:
    """Some child matches (no children: nothing matches)."""

    children: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Not:
    child: FilterNode


FilterNode: TypeAlias = Compare | In | Exists | And | Or | Not


def parse_filter(spec: Mapping[str, Any] | None) -> FilterNode | None:
    """Validate ``spec`` and return its tree; ``None`` when it matches everything.

    Raises ``InvalidArgumentError`` for every malformed filter (contract §6, §12).
    """
    if spec is None:
        return None
    parser = _Parser()
    node = parser.parse_object(spec, depth=1)
    if isinstance(node, And) and not node.children:
        return None
    return node


class _Parser:
    def __init__(self) -> None:
        self.nodes = 0

    def count(self, n: int = 1) -> None:
        self.nodes += n
        if self.nodes > MAX_FILTER_NODES:
            raise InvalidArgumentError(
                f"filter has more than {MAX_FILTER_NODES} predicates; simplify it"
            )

    def parse_object(self, spec: object, depth: int) -> FilterNode:
        if depth > MAX_FILTER_DEPTH:
            raise InvalidArgumentError(f"filter nests deeper than {MAX_FILTER_DEPTH} levels")
        if not isinstance(spec, Mapping):
            raise InvalidArgumentError(f"a filter must be a JSON object, got {type(spec).__name__}")
        parts: list[FilterNode] = []
        for key, value in spec.items():
            if not isinstance(key, str):
                raise InvalidArgumentError(f"filter keys must be strings, got {key!r}")
            if key.startswith("$"):
                parts.append(self.parse_combinator(key, value, depth))
            else:
                _check_field(key)
                parts.append(self.parse_condition(key, value, depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_combinator(self, key: str, value: object, depth: int) -> FilterNode:
        self.count()
        if key not in _COMBINATORS:
            raise InvalidArgumentError(
                f"unknown filter combinator {key!r}; keys starting with '$' are reserved "
                "for $and, $or and $not"
            )
        if key == "$not":
            if not isinstance(value, Mapping):
                raise InvalidArgumentError("$not takes one filter object")
            return Not(self.parse_object(value, depth + 1))
        if not isinstance(value, list):
            raise InvalidArgumentError(f"{key} takes a list of filter objects")
        children = tuple(self.parse_object(child, depth + 1) for child in value)
        return And(children) if key == "$and" else Or(children)

    def parse_condition(self, field: str, value: object, depth: int) -> FilterNode:
        if value is None:
            raise InvalidArgumentError(
                f'filter on {field!r} has a null operand; use {{"exists": false}} to match '
                "absent or null values"
            )
        if isinstance(value, list):
            return self.make_in(field, value)
        if isinstance(value, Mapping):
            return self.parse_operators(field, value)
        self.count()
        return Compare(field, "eq", _scalar(field, "eq", value))

    def parse_operators(self, field: str, ops: Mapping[Any, Any]) -> FilterNode:
        if not ops:
            raise InvalidArgumentError(f"filter on {field!r} has an empty operator object")
        parts: list[FilterNode] = []
        for op, operand in ops.items():
            if op not in _OPERATORS:
                raise InvalidArgumentError(
                    f"unknown filter operator {op!r} on {field!r}; use one of "
                    + ", ".join(sorted(_OPERATORS))
                )
            if operand is None:
                raise InvalidArgumentError(
                    f"operator {op!r} on {field!r} has a null operand; use 'exists'"
                )
            if op == "exists":
                self.count()
                if not isinstance(operand, bool):
                    raise InvalidArgumentError(f"'exists' on {field!r} takes true or false")
                node: FilterNode = Exists(field)
                parts.append(node if operand else Not(node))
            elif op in ("in", "not_in"):
                values = operand if isinstance(operand, list) else [operand]
                node = self.make_in(field, values)
                parts.append(node if op == "in" else Not(node))
            elif op in ("eq", "ne"):
                self.count()
                node = Compare(field, "eq", _scalar(field, op, operand))
                parts.append(node if op == "eq" else Not(node))
            else:
                self.count()
                if isinstance(operand, bool) or not isinstance(operand, (int, float, str)):
                    raise InvalidArgumentError(
                        f"operator {op!r} on {field!r} takes a number or a string, "
                        f"got {_json_type(operand)}"
                    )
                parts.append(Compare(field, op, _scalar(field, op, operand)))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def make_in(self, field: str, values: list[Any]) -> In:
        self.count(max(1, len(values)))
        scalars = tuple(_scalar(field, "in", v) for v in values)
        return In(field, scalars)


def _check_field(field: str) -> None:
    if not field:
        raise InvalidArgumentError("filter field names must be non-empty")
    if "\x00" in field:
        raise InvalidArgumentError("filter field names must not contain NUL")
    check_unicode(f"filter field name {field!r}", field)


def _scalar(field: str, op: str, value: object) -> Scalar:
    """Validate one operand element: a string, a finite number or a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidArgumentError(
                f"operand of {op!r} on {field!r} is outside the 64-bit integer range"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"operand of {op!r} on {field!r} must be finite")
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidArgumentError(f"operand of {op!r} on {field!r} must not contain NUL")
        check_unicode(f"operand of {op!r} on {field!r}", value)
        return value
    if value is None:
        raise InvalidArgumentError(f"operand of {op!r} on {field!r} contains a null")
    raise InvalidArgumentError(
        f"operand of {op!r} on {field!r} must be a string, number or boolean, "
        f"got {_json_type(value)}"
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
