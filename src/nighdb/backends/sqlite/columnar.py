"""Evaluate a filter tree over columnar copies of metadata fields, as numpy masks.

SQL filters re-read every row's JSON on every search; a cached collection instead keeps,
per filtered field, one column aligned with its vector block: a JSON-type code per row, a
float64 number, and the rank of the string among the field's distinct strings (sorted by
code point, so string ranges become integer ranges). Evaluation is then a few vectorised
comparisons, with contract §6 semantics:

* types never cross (a number never equals a string; booleans are not numbers);
* absent and null fail every comparison (``Not`` turns that into passing ``ne``);
* arrays and objects are values that never equal a scalar and never match ranges.

Float64 holds every integer up to 2**53 exactly. A field holding a larger integer, or an
operand that large, cannot be compared exactly here, so ``evaluate`` answers ``None`` and
the caller falls back to SQL, which compares exactly.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ...filters import And, Exists, FilterNode, In, Not, Or, Scalar

__all__ = ["FieldColumn", "evaluate", "fields_of"]

Mask = npt.NDArray[np.bool_]

ABSENT, NUMBER, STRING, TRUE, FALSE, OTHER = range(6)
_EXACT_LIMIT = 2**53


def _kind(value: object) -> int:
    if value is None:
        return ABSENT
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return STRING
    return OTHER


@dataclass(frozen=True)
class FieldColumn:
    kinds: npt.NDArray[np.int8]
    numbers: npt.NDArray[np.float64]
    strings: list[str]  # the distinct strings, sorted by code point
    string_ranks: npt.NDArray[np.int32]  # index into ``strings``, -1 when not a string
    exact: bool  # every number is an integer within 2**53 or a float
    nbytes: int

    @staticmethod
    def from_values(values: Sequence[object]) -> FieldColumn:
        """Build from each row's decoded JSON value (None for absent or null), in block order."""
        n = len(values)
        kinds = np.fromiter((_kind(v) for v in values), dtype=np.int8, count=n)
        numbers = np.full(n, np.nan)
        exact = True
        number_rows = np.flatnonzero(kinds == NUMBER)
        if len(number_rows):
            picked = [values[i] for i in number_rows.tolist()]
            exact = all(not isinstance(v, int) or abs(v) <= _EXACT_LIMIT for v in picked)
            numbers[number_rows] = np.asarray(picked, dtype=np.float64)
        string_rows = np.flatnonzero(kinds == STRING)
        return FieldColumn.with_strings(
            kinds, numbers, string_rows, [str(values[i]) for i in string_rows.tolist()], exact
        )

    @staticmethod
    def from_strings(values: Sequence[str]) -> FieldColumn:
        """A column where every row holds a string (the item ids)."""
        n = len(values)
        kinds = np.full(n, STRING, dtype=np.int8)
        rows = np.arange(n)
        return FieldColumn.with_strings(kinds, np.full(n, np.nan), rows, list(values), True)

    @staticmethod
    def with_strings(
        kinds: npt.NDArray[np.int8],
        numbers: npt.NDArray[np.float64],
        string_rows: npt.NDArray[np.intp],
        row_strings: list[str],
        exact: bool,
    ) -> FieldColumn:
        ranks = np.full(len(kinds), -1, dtype=np.int32)
        distinct = sorted(set(row_strings))  # Python orders str by code point
        if row_strings:
            position = {s: i for i, s in enumerate(distinct)}
            ranks[string_rows] = np.fromiter(
                (position[s] for s in row_strings), dtype=np.int32, count=len(row_strings)
            )
        nbytes = kinds.nbytes + numbers.nbytes + ranks.nbytes + sum(56 + len(s) for s in distinct)
        return FieldColumn(kinds, numbers, distinct, ranks, exact, int(nbytes))

    def __len__(self) -> int:
        return len(self.kinds)


def fields_of(node: FilterNode) -> set[str]:
    """Every field a filter tree reads."""
    if isinstance(node, (And, Or)):
        return set().union(*(fields_of(c) for c in node.children))
    if isinstance(node, Not):
        return fields_of(node.child)
    return {node.field}


def evaluate(node: FilterNode, column: Callable[[str], FieldColumn], n: int) -> Mask | None:
    """The rows ``node`` matches, or None when it cannot be decided exactly here."""
    try:
        return _eval(node, column, n)
    except _InexactError:
        return None


class _InexactError(Exception):
    pass


def _eval(node: FilterNode, column: Callable[[str], FieldColumn], n: int) -> Mask:
    if isinstance(node, And):
        mask = np.ones(n, dtype=bool)
        for child in node.children:
            mask &= _eval(child, column, n)
        return mask
    if isinstance(node, Or):
        mask = np.zeros(n, dtype=bool)
        for child in node.children:
            mask |= _eval(child, column, n)
        return mask
    if isinstance(node, Not):
        return ~_eval(node.child, column, n)
    col = column(node.field)
    if isinstance(node, Exists):
        result: Mask = col.kinds != ABSENT
        return result
    if isinstance(node, In):
        mask = np.zeros(n, dtype=bool)
        for value in node.values:
            mask |= _compare(col, "eq", value)
        return mask
    return _compare(col, node.op, node.value)


def _compare(col: FieldColumn, op: str, value: Scalar) -> Mask:
    if isinstance(value, bool):
        if op != "eq":
            return np.zeros(len(col), dtype=bool)
        result: Mask = col.kinds == (TRUE if value else FALSE)
        return result
    if isinstance(value, str):
        return _compare_string(col, op, value)
    if not col.exact or (isinstance(value, int) and abs(value) > _EXACT_LIMIT):
        raise _InexactError
    is_number = col.kinds == NUMBER
    operand = float(value)
    with np.errstate(invalid="ignore"):
        if op == "eq":
            hit = col.numbers == operand
        elif op == "gt":
            hit = col.numbers > operand
        elif op == "gte":
            hit = col.numbers >= operand
        elif op == "lt":
            hit = col.numbers < operand
        else:
            hit = col.numbers <= operand
    out: Mask = is_number & hit
    return out


def _compare_string(col: FieldColumn, op: str, value: str) -> Mask:
    ranks, strings = col.string_ranks, col.strings
    is_string = ranks >= 0
    if op == "eq":
        at = bisect.bisect_left(strings, value)
        if at == len(strings) or strings[at] != value:
            return np.zeros(len(col), dtype=bool)
        eq: Mask = ranks == at
        return eq
    # Ranks follow code point order, so a string range is a rank range.
    if op == "gt":
        hit = ranks >= bisect.bisect_right(strings, value)
    elif op == "gte":
        hit = ranks >= bisect.bisect_left(strings, value)
    elif op == "lt":
        hit = ranks < bisect.bisect_left(strings, value)
    else:
        hit = ranks < bisect.bisect_right(strings, value)
    out: Mask = is_string & hit
    return out
