"""Compile a filter tree (``nighdb.filters``) to an SQLite boolean expression.

Only fixed SQL fragments are emitted; every field name and value travels as a bound
parameter (the JSON path of a key is built from the key and *bound*, never spliced).

Every compiled expression is two-valued (0 or 1, never NULL), so ``NOT`` is the exact
negation contract §6 asks for: ``json_type`` of an absent key is NULL, and each leaf tests it
with ``IS`` (NULL-safe) before it looks at the value.
"""

from __future__ import annotations

import json

from ...filters import And, Compare, Exists, FilterNode, In, Not, Or, Scalar

__all__ = ["compile_filter", "json_path"]

_SQL_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def json_path(key: str) -> str:
    """The SQLite JSON path of a literal top-level key (dots, quotes and all)."""
    return "$." + json.dumps(key, ensure_ascii=False)


def compile_filter(node: FilterNode) -> tuple[str, list[object]]:
    """Return ``(sql, params)``: an expression over columns ``id`` and ``metadata``."""
    params: list[object] = []
    sql = _compile(node, params)
    return sql, params


def _compile(node: FilterNode, params: list[object]) -> str:
    if isinstance(node, And):
        if not node.children:
            return "1"
        return "(" + " AND ".join(_compile(c, params) for c in node.children) + ")"
    if isinstance(node, Or):
        if not node.children:
            return "0"
        return "(" + " OR ".join(_compile(c, params) for c in node.children) + ")"
    if isinstance(node, Not):
        return "(NOT " + _compile(node.child, params) + ")"
    if isinstance(node, Exists):
        if node.field == "id":
            return "1"  # every item has an id
        params.append(json_path(node.field))
        return "(coalesce(json_type(metadata, ?), 'null') <> 'null')"
    if isinstance(node, Compare):
        return _compare(node.field, node.op, node.value, params)
    if isinstance(node, In):
        return _in(node.field, node.values, params)
    raise TypeError(f"unknown filter node {node!r}")


# ``json_type`` is NULL for an absent key: ``IS`` and ``coalesce`` keep every test two-valued.
_IS_TRUE = "(json_type(metadata, ?) IS 'true')"
_IS_FALSE = "(json_type(metadata, ?) IS 'false')"
_IS_TEXT = "json_type(metadata, ?) IS 'text'"
_IS_NUMBER = "coalesce(json_type(metadata, ?), '') IN ('integer', 'real')"


def _compare(field: str, op: str, value: Scalar, params: list[object]) -> str:
    sql_op = _SQL_OPS[op]
    if field == "id":
        # The id is always a string: other operand types never match it.
        if isinstance(value, str):
            params.append(value)
            return f"(id {sql_op} ?)"
        return "0"
    path = json_path(field)
    if isinstance(value, bool):
        if op != "eq":
            return "0"  # the parser forbids ranges on booleans; be total anyway
        params.append(path)
        return _IS_TRUE if value else _IS_FALSE
    if isinstance(value, str):
        params.extend((path, path, value))
        return f"({_IS_TEXT} AND json_extract(metadata, ?) {sql_op} ?)"
    params.extend((path, path, value))
    return f"({_IS_NUMBER} AND json_extract(metadata, ?) {sql_op} ?)"


def _in(field: str, values: tuple[Scalar, ...], params: list[object]) -> str:
    strings = [v for v in values if isinstance(v, str)]
    numbers = [v for v in values if not isinstance(v, (str, bool))]
    bools = {v for v in values if isinstance(v, bool)}
    if field == "id":
        if not strings:
            return "0"
        params.extend(strings)
        return "(id IN (" + ", ".join("?" * len(strings)) + "))"
    path = json_path(field)
    parts: list[str] = []
    if strings:
        params.extend((path, path, *strings))
        parts.append(
            f"({_IS_TEXT} AND json_extract(metadata, ?) IN (" + ", ".join("?" * len(strings)) + "))"
        )
    if numbers:
        params.extend((path, path, *numbers))
        parts.append(
            f"({_IS_NUMBER} AND json_extract(metadata, ?) IN ("
            + ", ".join("?" * len(numbers))
            + "))"
        )
    for b in sorted(bools):
        params.append(path)
        parts.append(_IS_TRUE if b else _IS_FALSE)
    if not parts:
        return "0"
    return "(" + " OR ".join(parts) + ")"
