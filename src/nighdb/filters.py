"""The filter language (contract §6): parse and validate a JSON-style filter into a small tree.

The tree is the one place where filter *shape* is decided, and ``fold`` the one place where its
*meaning* is: it walks the tree and asks a dialect only for leaves (SQLite SQL, PostgreSQL SQL
over jsonb, numpy masks over cached columns). Parsing normalises:

* ``ne`` → ``Not(Compare eq)`` and ``not_in`` → ``Not(In)``: the contract defines them as the exact
  negation of ``eq``/``in``, so backends never implement them separately;
* ``exists: false`` → ``Not(Exists)``;
* a scalar ``in`` operand → a one-element list; several keys or operators → ``And``.

Fields: ``id`` is the item id; any other field is a literal top-level metadata key.

``fold`` decides, once for every dialect, the parts of contract §6 that do not depend on how a
dialect reads a value: the JSON-type split of operands (boolean / string / number), "the id only
equals strings", "ranges on booleans never match", "``in: []`` matches nothing" and
"``exists`` on the id always holds". A dialect supplies typed leaves (``FilterDialect``): it is
told what to test, never asked to decide what a node means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, TypeVar

from .errors import InvalidArgumentError
from .jsontext import check_unicode
from .models import INT64_MAX, INT64_MIN

__all__ = [
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_NODES",
    "And",
    "Compare",
    "CompareOp",
    "Exists",
    "FilterDialect",
    "FilterNode",
    "In",
    "Not",
    "Number",
    "Or",
    "Scalar",
    "SqlConnectives",
    "SqlFragment",
    "fold",
    "parse_filter",
]

Scalar: TypeAlias = str | int | float | bool
Number: TypeAlias = int | float
"""A numeric operand as leaves receive it: never a ``bool`` (``fold`` splits those off)."""
CompareOp: TypeAlias = Literal["eq", "gt", "gte", "lt", "lte"]

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


# -- the fold -----------------------------------------------------------------------------

P = TypeVar("P")


class FilterDialect(Protocol[P]):
    """The leaves of one way to evaluate a filter; ``P`` is its part (SQL text, a mask...).

    Every part must be two-valued (true or false for each item, never unknown, such as SQL's
    NULL), so that ``negate`` is the exact negation contract §6 asks of ``ne`` and ``not_in``.
    Each part that ``fold`` hands back to the dialect is one the dialect just returned, used
    once: a dialect may reuse it in place. ``field`` is always a metadata key, never ``id``.
    Comparisons are typed: a leaf matches only values of its operand's JSON type, and no
    leaf matches an absent key or JSON null (the negation of a leaf does).
    """

    def true(self) -> P:
        """Every item."""
        ...

    def false(self) -> P:
        """No item."""
        ...

    def all_of(self, parts: Sequence[P]) -> P:
        """Items in every part (two or more parts)."""
        ...

    def any_of(self, parts: Sequence[P]) -> P:
        """Items in some part (two or more parts)."""
        ...

    def negate(self, part: P) -> P:
        """Items not in ``part``."""
        ...

    def exists(self, field: str) -> P:
        """``field`` is present and not null."""
        ...

    def id_compare(self, op: CompareOp, value: str) -> P:
        """The item id ``op`` ``value``, in code point order."""
        ...

    def id_in(self, values: Sequence[str]) -> P:
        """The item id is one of ``values`` (one or more)."""
        ...

    def compare_string(self, field: str, op: CompareOp, value: str) -> P:
        """``field`` holds a string that is ``op`` ``value``, in code point order."""
        ...

    def compare_number(self, field: str, op: CompareOp, value: Number) -> P:
        """``field`` holds a number that is ``op`` ``value``, compared exactly."""
        ...

    def is_bool(self, field: str, value: bool) -> P:
        """``field`` holds the boolean ``value``."""
        ...

    def in_strings(self, field: str, values: Sequence[str]) -> P:
        """``field`` holds a string equal to one of ``values`` (one or more)."""
        ...

    def in_numbers(self, field: str, values: Sequence[Number]) -> P:
        """``field`` holds a number equal to one of ``values`` (one or more)."""
        ...


def fold(node: FilterNode, dialect: FilterDialect[P]) -> P:
    """Evaluate ``node`` in ``dialect``: the one traversal of a filter tree (contract §6).

    Children are folded left to right and an ``In``'s parts come strings, numbers, then
    booleans (false before true), so the output is deterministic. A combinator of one part is
    that part; of none, ``true`` (``And``) or ``false`` (``Or``).
    """
    if isinstance(node, Compare):  # the commonest node: its rules inline, one call fewer
        field, op, value = node.field, node.op, node.value
        if field == "id":
            # The id is always a string: an operand of another type never matches it.
            return dialect.id_compare(op, value) if isinstance(value, str) else dialect.false()
        if isinstance(value, bool):
            # The parser rejects ranges on booleans; a hand-built tree gets "never matches".
            return dialect.is_bool(field, value) if op == "eq" else dialect.false()
        if isinstance(value, str):
            return dialect.compare_string(field, op, value)
        return dialect.compare_number(field, op, value)
    if isinstance(node, In):
        return _in(node.field, node.values, dialect)
    if isinstance(node, Exists):
        return dialect.true() if node.field == "id" else dialect.exists(node.field)
    if isinstance(node, Not):
        return dialect.negate(fold(node.child, dialect))
    if isinstance(node, And):
        if len(node.children) == 1:
            return fold(node.children[0], dialect)
        if not node.children:
            return dialect.true()
        return dialect.all_of([fold(child, dialect) for child in node.children])
    if isinstance(node, Or):
        if len(node.children) == 1:
            return fold(node.children[0], dialect)
        if not node.children:
            return dialect.false()
        return dialect.any_of([fold(child, dialect) for child in node.children])
    raise TypeError(f"unknown filter node {node!r}")


def _in(field: str, values: tuple[Scalar, ...], dialect: FilterDialect[P]) -> P:
    strings = [v for v in values if isinstance(v, str)]
    if field == "id":
        return dialect.id_in(strings) if strings else dialect.false()
    parts: list[P] = []
    if strings:
        parts.append(dialect.in_strings(field, strings))
    numbers = [v for v in values if not isinstance(v, (str, bool))]
    if numbers:
        parts.append(dialect.in_numbers(field, numbers))
    for flag in (False, True):
        # ``is``, not ``in``: 0 == False and 1 == True in Python, not in JSON.
        if any(v is flag for v in values):
            parts.append(dialect.is_bool(field, flag))
    if len(parts) == 1:
        return parts[0]
    return dialect.any_of(parts) if parts else dialect.false()


# -- what SQL dialects share --------------------------------------------------------------


SqlFragment: TypeAlias = tuple[str, tuple[object, ...]]
"""A two-valued SQL boolean expression and its bound parameters, in placeholder order (a
plain tuple: filters are compiled on the search path, and a tuple is the cheapest value)."""


class SqlConnectives:
    """The connectives of ``FilterDialect[SqlFragment]``, for an SQL dialect to inherit.

    ``AND``/``OR``/``NOT`` are standard SQL; only the spelling of the constants differs
    (``1``/``0`` in SQLite, ``true``/``false`` in PostgreSQL). Parameters are concatenated
    in the order the text mentions them, so a fragment is always self-consistent.
    """

    def __init__(self, true: str, false: str) -> None:
        self._true: SqlFragment = (true, ())
        self._false: SqlFragment = (false, ())

    def true(self) -> SqlFragment:
        return self._true

    def false(self) -> SqlFragment:
        return self._false

    def all_of(self, parts: Sequence[SqlFragment]) -> SqlFragment:
        return _join(" AND ", parts)

    def any_of(self, parts: Sequence[SqlFragment]) -> SqlFragment:
        return _join(" OR ", parts)

    def negate(self, part: SqlFragment) -> SqlFragment:
        return (f"(NOT {part[0]})", part[1])


def _join(connective: str, parts: Sequence[SqlFragment]) -> SqlFragment:
    texts: list[str] = []
    params: list[object] = []
    for text, part_params in parts:  # one loop: the fastest way in CPython, measured
        texts.append(text)
        params.extend(part_params)
    return "(" + connective.join(texts) + ")", tuple(params)
