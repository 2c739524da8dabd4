"""SQLite's leaves of the filter fold (``nighdb.filters.fold``): a boolean SQL expression.

Only fixed SQL fragments are emitted; every field name and value travels as a bound
parameter (the JSON path of a key is built from the key and *bound*, never spliced).

Every leaf is two-valued (0 or 1, never NULL), so ``NOT`` is the exact negation contract §6
asks for: ``json_type`` of an absent key is NULL, and each leaf tests it with ``IS``
(NULL-safe) or ``coalesce`` before it looks at the value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ...filters import (
    CompareOp,
    FilterDialect,
    FilterNode,
    Number,
    SqlConnectives,
    SqlFragment,
    fold,
)

__all__ = ["compile_filter", "json_path"]

_SQL_OPS: dict[CompareOp, str] = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

# ``json_type`` is NULL for an absent key: ``IS`` and ``coalesce`` keep every test two-valued.
_IS_TEXT = "json_type(metadata, ?) IS 'text'"
_IS_NUMBER = "coalesce(json_type(metadata, ?), '') IN ('integer', 'real')"


def json_path(key: str) -> str:
    """The SQLite JSON path of a literal top-level key (dots, quotes and all)."""
    return "$." + json.dumps(key, ensure_ascii=False)


def compile_filter(node: FilterNode) -> tuple[str, list[object]]:
    """Return ``(sql, params)``: an expression over columns ``id`` and ``metadata``."""
    text, params = fold(node, _DIALECT)
    return text, list(params)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class _SqliteLeaves(SqlConnectives):
    def __init__(self) -> None:
        super().__init__("1", "0")

    def exists(self, field: str) -> SqlFragment:
        return ("(coalesce(json_type(metadata, ?), 'null') <> 'null')", (json_path(field),))

    def id_compare(self, op: CompareOp, value: str) -> SqlFragment:
        return (f"(id {_SQL_OPS[op]} ?)", (value,))

    def id_in(self, values: Sequence[str]) -> SqlFragment:
        return (f"(id IN ({_marks(len(values))}))", tuple(values))

    def compare_string(self, field: str, op: CompareOp, value: str) -> SqlFragment:
        path = json_path(field)
        return (f"({_IS_TEXT} AND json_extract(metadata, ?) {_SQL_OPS[op]} ?)", (path, path, value))

    def compare_number(self, field: str, op: CompareOp, value: Number) -> SqlFragment:
        path = json_path(field)
        return (
            f"({_IS_NUMBER} AND json_extract(metadata, ?) {_SQL_OPS[op]} ?)",
            (path, path, value),
        )

    def is_bool(self, field: str, value: bool) -> SqlFragment:
        literal = "'true'" if value else "'false'"
        return (f"(json_type(metadata, ?) IS {literal})", (json_path(field),))

    def in_strings(self, field: str, values: Sequence[str]) -> SqlFragment:
        path = json_path(field)
        return (
            f"({_IS_TEXT} AND json_extract(metadata, ?) IN ({_marks(len(values))}))",
            (path, path, *values),
        )

    def in_numbers(self, field: str, values: Sequence[Number]) -> SqlFragment:
        path = json_path(field)
        return (
            f"({_IS_NUMBER} AND json_extract(metadata, ?) IN ({_marks(len(values))}))",
            (path, path, *values),
        )


_DIALECT: FilterDialect[SqlFragment] = _SqliteLeaves()
