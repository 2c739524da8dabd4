"""The filter fold's leaves as numpy masks over columnar copies of metadata fields.

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

from ...filters import CompareOp, FilterDialect, FilterNode, Number, fold

__all__ = ["FieldColumn", "evaluate"]

Mask = npt.NDArray[np.bool_]

ABSENT, NUMBER, STRING, TRUE, FALSE, OTHER = range(6)
_EXACT_LIMIT = 2**53
_ISIN_ABOVE = 16  # more operands than this: one pass over a table beats one pass each


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


def evaluate(node: FilterNode, column: Callable[[str], FieldColumn], n: int) -> Mask | None:
    """The rows ``node`` matches, or None when it cannot be decided exactly here.

    ``column`` gives the column of a field (``"id"`` for the item ids); it is called only for
    the fields a leaf reads, when the leaf is evaluated.
    """
    masks: FilterDialect[Mask] = _Masks(column, n)
    try:
        return fold(node, masks)
    except _InexactError:
        return None


class _InexactError(Exception):
    """A number the float64 columns cannot compare exactly: SQL must decide."""


class _Masks:
    """The leaves of the filter fold as boolean masks over the rows of one block."""

    def __init__(self, column: Callable[[str], FieldColumn], n: int) -> None:
        self.column = column
        self.n = n

    def true(self) -> Mask:
        return np.ones(self.n, dtype=bool)

    def false(self) -> Mask:
        return np.zeros(self.n, dtype=bool)

    # The fold hands back only masks made here, each used once: combine them in place.
    def all_of(self, parts: Sequence[Mask]) -> Mask:
        out = parts[0]
        for part in parts[1:]:
            out &= part
        return out

    def any_of(self, parts: Sequence[Mask]) -> Mask:
        out = parts[0]
        for part in parts[1:]:
            out |= part
        return out

    def negate(self, part: Mask) -> Mask:
        return np.logical_not(part, out=part)

    def exists(self, field: str) -> Mask:
        result: Mask = self.column(field).kinds != ABSENT
        return result

    def id_compare(self, op: CompareOp, value: str) -> Mask:
        return _compare_string(self.column("id"), op, value)

    def id_in(self, values: Sequence[str]) -> Mask:
        return _in_strings(self.column("id"), values)

    def compare_string(self, field: str, op: CompareOp, value: str) -> Mask:
        return _compare_string(self.column(field), op, value)

    def compare_number(self, field: str, op: CompareOp, value: Number) -> Mask:
        col = self._exact(field, (value,))
        operand = float(value)
        with np.errstate(invalid="ignore"):  # NaN stands in for non-numbers: never a hit
            hit = _NUMPY_OPS[op](col.numbers, operand)
        out: Mask = (col.kinds == NUMBER) & hit
        return out

    def is_bool(self, field: str, value: bool) -> Mask:
        result: Mask = self.column(field).kinds == (TRUE if value else FALSE)
        return result

    def in_strings(self, field: str, values: Sequence[str]) -> Mask:
        return _in_strings(self.column(field), values)

    def in_numbers(self, field: str, values: Sequence[Number]) -> Mask:
        col = self._exact(field, values)
        if len(values) > _ISIN_ABOVE:
            hit: Mask = np.isin(col.numbers, np.asarray(values, dtype=np.float64))
        else:  # a few comparisons beat np.isin's sort
            hit = col.numbers == float(values[0])
            for value in values[1:]:
                hit |= col.numbers == float(value)
        hit &= col.kinds == NUMBER
        return hit

    def _exact(self, field: str, operands: Sequence[Number]) -> FieldColumn:
        col = self.column(field)
        if not col.exact or any(isinstance(v, int) and abs(v) > _EXACT_LIMIT for v in operands):
            raise _InexactError
        return col


_NUMPY_OPS: dict[CompareOp, Callable[[npt.NDArray[np.float64], float], Mask]] = {
    "eq": np.equal,
    "gt": np.greater,
    "gte": np.greater_equal,
    "lt": np.less,
    "lte": np.less_equal,
}


def _compare_string(col: FieldColumn, op: CompareOp, value: str) -> Mask:
    ranks, strings = col.string_ranks, col.strings
    if op == "eq":
        at = bisect.bisect_left(strings, value)
        if at == len(strings) or strings[at] != value:
            return np.zeros(len(col), dtype=bool)
        eq: Mask = ranks == at
        return eq
    # Ranks follow code point order, so a string range is a rank range; -1 marks non-strings.
    if op == "gt":
        hit = ranks >= bisect.bisect_right(strings, value)
    elif op == "gte":
        hit = ranks >= bisect.bisect_left(strings, value)
    elif op == "lt":
        hit = ranks < bisect.bisect_left(strings, value)
    else:
        hit = ranks < bisect.bisect_right(strings, value)
    out: Mask = (ranks >= 0) & hit
    return out


def _in_strings(col: FieldColumn, values: Sequence[str]) -> Mask:
    strings = col.strings
    found = []
    for value in values:
        at = bisect.bisect_left(strings, value)
        if at < len(strings) and strings[at] == value:
            found.append(at)
    ranks = col.string_ranks
    if len(found) > _ISIN_ABOVE:
        # One gather through a table of the wanted ranks; rank -1 (not a string) reads the
        # table's last slot, which stays false. A few comparisons are faster than a gather.
        table = np.zeros(len(strings) + 1, dtype=bool)
        table[found] = True
        gathered: Mask = table[ranks]
        return gathered
    hit: Mask = np.zeros(len(col), dtype=bool)
    for at in found:
        hit |= ranks == at
    return hit
