"""PostgreSQL's leaves of the filter fold (``nighdb.filters.fold``): SQL over jsonb.

Only fixed SQL fragments are emitted; every field name and value is a bound parameter.

Semantics are contract §6's, the same as the SQLite backend's:

* each range leaf first checks the JSON type (``jsonb_typeof``) inside a ``CASE``: Postgres
  does not promise to evaluate ``AND`` left to right, and ``CASE`` does, so a cast such as
  ``::numeric`` never meets a string;
* every expression is two-valued (never NULL), so ``NOT`` is the exact negation: an absent
  key (``->`` gives NULL) takes the ``ELSE false`` branch, never NULL;
* numbers compare as ``numeric``, exactly (12 == 12.0, int64 values beyond 2**53), see
  ``numeric_text``; strings compare in byte order (``COLLATE "C"``).

Equality (``eq``, ``in`` and the booleans), the filters applications use most, is jsonb
containment instead: ``metadata @> '{"field": value}'`` (``@> ANY(array)`` for ``in``). On
the filter document it means exactly the typed equality above (``_contains`` says why),
and the GIN ``jsonb_path_ops`` index on ``metadata`` (``schema``) serves it, so a selective
equality reads only its matching rows instead of the whole table. It also gives the planner
a row estimate from the column's statistics (1,010 rows for a filter matching 1,000 of
100,000), where a ``CASE`` gets a fixed guess, and its plans follow the estimate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal

from psycopg import sql

from ...filters import (
    CompareOp,
    FilterDialect,
    FilterNode,
    Number,
    SqlConnectives,
    SqlFragment,
    fold,
)
from ...jsontext import encode_json
from .schema import ID_HASH, ID_PREFIX

__all__ = [
    "compile_filter",
    "filter_document",
    "numeric_operand",
    "numeric_text",
    "prepare_option",
]

_SQL_OPS: dict[CompareOp, str] = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

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


_ID_HASH_OF_PARAM = ID_HASH.format("%s::text")
# schema.ID_HASH of each id of the parameter (the test of id filters fails if they differ).
_ID_HASHES_OF_PARAM = "ARRAY(SELECT sha256(convert_to(v, 'UTF8')) FROM unnest(%s::text[]) AS v)"
_ID_PREFIX = f"left(id, {ID_PREFIX})"


def _contains(field: str, values: Sequence[str | Number | bool]) -> SqlFragment:
    """``field`` holds one of ``values`` (one or more): jsonb containment of ``{field: v}``.

    Exactly contract §6's equality on the filter document (``filter_document``): its values
    are scalars or ``[]``/``{}``, which contain no scalar; a string is contained only by a
    byte-equal string, a number only by a number equal as ``numeric`` (exact, and the
    document holds integral floats as exact integers), a boolean only by itself. An absent
    key or a JSON null contains nothing. Never NULL: ``metadata`` and the operands are not.
    """
    key = encode_json(field)
    docs = ["{" + key + ":" + _json_scalar(v) + "}" for v in values]
    if len(docs) == 1:  # a plain containment: estimated better than ANY of one
        return ("(metadata @> %s::jsonb)", (docs[0],))
    return ("(metadata @> ANY(%s::jsonb[]))", (docs,))


def _json_scalar(value: str | Number | bool) -> str:
    if isinstance(value, (str, bool)):
        return encode_json(value)
    return numeric_text(value)


def prepare_option(params: Sequence[object]) -> bool | None:
    """psycopg's ``prepare=`` for a statement whose filter has these parameters.

    A filtered statement is never prepared: after a few runs PostgreSQL may switch a
    prepared statement to a generic plan, chosen without the parameters' values, and only
    the values tell a filter matching 1% of the rows (read them through the GIN index) from
    one matching 90% (scan the table). Planning costs far less than either mistake.
    Statements without a filter keep psycopg's default (prepared once run often).
    """
    return False if params else None


def compile_filter(node: FilterNode) -> tuple[sql.SQL, list[object]]:
    """Return ``(expression, params)`` over the items table's ``id`` and ``metadata``."""
    text, params = fold(node, _DIALECT)
    return sql.SQL(text), list(params)


class _PostgresLeaves(SqlConnectives):
    def __init__(self) -> None:
        super().__init__("true", "false")

    def exists(self, field: str) -> SqlFragment:
        return ("coalesce(jsonb_typeof(metadata -> %s::text) <> 'null', false)", (field,))

    def id_compare(self, op: CompareOp, value: str) -> SqlFragment:
        # Equality is the primary key's (the hash of the id). A range gets a bound on the id's
        # prefix as well, which the id-order index serves; it is implied by the comparison
        # (the prefix of a smaller id is no greater), so it never changes the result. The id
        # is a "C"-collated column: byte order, which is code point order in UTF-8.
        if op == "eq":
            return (f"(id_hash = {_ID_HASH_OF_PARAM})", (value,))
        bound = ">=" if op in ("gt", "gte") else "<="
        return (
            f"({_ID_PREFIX} {bound} left(%s::text, {ID_PREFIX}) AND id {_SQL_OPS[op]} %s::text)",
            (value, value),
        )

    def id_in(self, values: Sequence[str]) -> SqlFragment:
        return (f"(id_hash = ANY({_ID_HASHES_OF_PARAM}))", (list(values),))

    def compare_string(self, field: str, op: CompareOp, value: str) -> SqlFragment:
        if op == "eq":
            return _contains(field, [value])
        return (
            f"({_IS_STRING}{_STRING} {_SQL_OPS[op]} %s::text ELSE false END)",
            (field, field, value),
        )

    def compare_number(self, field: str, op: CompareOp, value: Number) -> SqlFragment:
        if op == "eq":
            return _contains(field, [value])
        return (
            f"({_IS_NUMBER}{_NUMBER} {_SQL_OPS[op]} %s::numeric ELSE false END)",
            (field, field, numeric_operand(value)),
        )

    def is_bool(self, field: str, value: bool) -> SqlFragment:
        return _contains(field, [value])

    def in_strings(self, field: str, values: Sequence[str]) -> SqlFragment:
        return _contains(field, values)

    def in_numbers(self, field: str, values: Sequence[Number]) -> SqlFragment:
        return _contains(field, values)


_DIALECT: FilterDialect[SqlFragment] = _PostgresLeaves()
