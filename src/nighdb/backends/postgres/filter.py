"""Compile a filter tree (``nighdb.filters``) to a PostgreSQL boolean expression over jsonb.

Only fixed SQL fragments are emitted; every field name and value is a bound parameter.

Semantics are contract §6's, the same as the SQLite backend's:

* each leaf first checks the JSON type (``jsonb_typeof``) inside a ``CASE``: Postgres does not
  promise to evaluate ``AND`` left to right, and ``CASE`` does, so a cast such as
  ``::numeric`` never meets a string;
* every expression is two-valued (never NULL), so ``NOT`` is the exact negation: an absent
  key (``->`` gives NULL) takes the ``ELSE false`` branch, never NULL;
* numbers compare as ``numeric``, exactly (12 == 12.0, int64 values beyond 2**53), see
  ``numeric_text``; strings compare in byte order (``COLLATE "C"``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal

from psycopg import sql

from ...filters import And, Compare, Exists, FilterNode, In, Not, Or, Scalar
from ...jsontext import encode_json

__all__ = ["compile_filter", "filter_document", "numeric_operand", "numeric_text"]

_SQL_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

_IS_STRING = "CASE WHEN jsonb_typeof(metadata -> %s::text) = 'string' THEN "
_IS_NUMBER = "CASE WHEN jsonb_typeof(metadata -> %s::text) = 'number' THEN "
_STRING = '(metadata ->> %s::text) COLLATE "C"'
_NUMBER = "(metadata -> %s::text)::numeric"


def numeric_text(value: int | float) -> str:
    """The decimal text Postgres compares for a JSON number; exact where it matters.

    Integers are exact. An integral float is written as its exact integer, so ``2.0**60``
    compares with nearby int64 values exactly, as SQLite does. A non-integral float is below
    2**52 in magnitude, where its shortest repr orders exactly like the float itself against
    any integer and any other float's repr, so ``repr`` is exact enough and short.
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(int(value))


def numeric_operand(value: int | float) -> Decimal:
    return Decimal(numeric_text(value))


def filter_document(metadata_json: str, metadata: Mapping[str, object] | None = None) -> str:
    """The jsonb text filters read: top-level keys only, numbers rewritten by ``numeric_text``.

    Filters address top-level keys, and an array or object never matches anything but
    ``exists``/``ne``/``not_in``, all of which treat every array (object) alike; so nested
    values are stored as ``[]``/``{}``, which keeps the filter column small.

    ``metadata`` is the object ``metadata_json`` encodes (validated metadata: plain JSON
    data), when the caller has it; then the text is not parsed again.
    """
    doc = json.loads(metadata_json) if metadata is None else metadata
    for value in doc.values():
        if isinstance(value, (list, dict)) or (isinstance(value, float) and value.is_integer()):
            break
    else:
        # Nothing to rewrite: other scalars are written in the canonical JSON as numeric_text
        # writes them (a non-integral float as its repr).
        return metadata_json
    return encode_json({key: _filter_value(value) for key, value in doc.items()})


def _filter_value(value: object) -> object:
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    if isinstance(value, float) and value.is_integer():
        return int(value)  # numeric_text: the exact integer
    return value


def compile_filter(node: FilterNode) -> tuple[sql.SQL, list[object]]:
    """Return ``(expression, params)`` over the items table's ``id`` and ``metadata``."""
    params: list[object] = []
    return sql.SQL(_compile(node, params)), params


def _compile(node: FilterNode, params: list[object]) -> str:
    if isinstance(node, And):
        if not node.children:
            return "true"
        return "(" + " AND ".join(_compile(c, params) for c in node.children) + ")"
    if isinstance(node, Or):
        if not node.children:
            return "false"
        return "(" + " OR ".join(_compile(c, params) for c in node.children) + ")"
    if isinstance(node, Not):
        return "(NOT " + _compile(node.child, params) + ")"
    if isinstance(node, Exists):
        if node.field == "id":
            return "true"  # every item has an id
        params.append(node.field)
        return "coalesce(jsonb_typeof(metadata -> %s::text) <> 'null', false)"
    if isinstance(node, Compare):
        return _compare(node.field, node.op, node.value, params)
    if isinstance(node, In):
        return _in(node.field, node.values, params)
    raise TypeError(f"unknown filter node {node!r}")


def _boolean(field: str, value: bool, params: list[object]) -> str:
    params.append(field)
    literal = "'true'::jsonb" if value else "'false'::jsonb"
    return f"coalesce((metadata -> %s::text) = {literal}, false)"


def _compare(field: str, op: str, value: Scalar, params: list[object]) -> str:
    sql_op = _SQL_OPS[op]
    if field == "id":
        # The id is always a string (a "C"-collated column): other operand types never match.
        if isinstance(value, str):
            params.append(value)
            return f"(id {sql_op} %s::text)"
        return "false"
    if isinstance(value, bool):
        return _boolean(field, value, params) if op == "eq" else "false"
    if isinstance(value, str):
        params.extend((field, field, value))
        return f"({_IS_STRING}{_STRING} {sql_op} %s::text ELSE false END)"
    params.extend((field, field, numeric_operand(value)))
    return f"({_IS_NUMBER}{_NUMBER} {sql_op} %s::numeric ELSE false END)"


def _in(field: str, values: tuple[Scalar, ...], params: list[object]) -> str:
    strings = [v for v in values if isinstance(v, str)]
    numbers = [numeric_operand(v) for v in values if not isinstance(v, (str, bool))]
    bools = sorted({v for v in values if isinstance(v, bool)})
    if field == "id":
        if not strings:
            return "false"
        params.append(strings)
        return "(id = ANY(%s::text[]))"
    parts: list[str] = []
    if strings:
        params.extend((field, field, strings))
        parts.append(f"({_IS_STRING}{_STRING} = ANY(%s::text[]) ELSE false END)")
    if numbers:
        params.extend((field, field, numbers))
        parts.append(f"({_IS_NUMBER}{_NUMBER} = ANY(%s::numeric[]) ELSE false END)")
    parts.extend(_boolean(field, b, params) for b in bools)
    if not parts:
        return "false"
    return "(" + " OR ".join(parts) + ")"
