"""LangChain metadata filters translated to nighdb's filter language (contract §6).

LangChain leaves the filter syntax to each vector store; most (PGVector, Chroma, Pinecone,
Qdrant's translator) use MongoDB-style operators. Those are accepted here, next to nighdb's
own syntax, which passes through unchanged:

==============================  ==============================
LangChain                        nighdb
==============================  ==============================
``{"f": v}``                     ``{"f": v}`` (``eq``; a list is ``in``)
``$eq $ne $gt $gte $lt $lte``    ``eq ne gt gte lt lte``
``$in`` / ``$nin``               ``in`` / ``not_in``
``$exists``                      ``exists``
``$between: [lo, hi]``           ``{"gte": lo, "lte": hi}``
``$and`` / ``$or`` / ``$not``    the same combinators
==============================  ==============================

Operators with no exact nighdb equivalent (``$like``, ``$ilike``, ``$contains``, ``$regex``,
``$text``, ...) raise ``InvalidArgumentError`` naming the operator: a filter that silently
matched something else would return wrong documents. The translated filter is then checked by
nighdb itself, so a wrong operand type is the same ``invalid_argument`` on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["to_nigh_filter"]

_OPERATORS = {
    "$eq": "eq",
    "$ne": "ne",
    "$gt": "gt",
    "$gte": "gte",
    "$lt": "lt",
    "$lte": "lte",
    "$in": "in",
    "$nin": "not_in",
    "$exists": "exists",
}
_COMBINATORS = {"$and", "$or"}
_SUPPORTED = ", ".join([*_OPERATORS, "$between", "$and", "$or", "$not"])


def to_nigh_filter(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The nighdb filter for a LangChain ``filter`` argument (``None`` stays ``None``)."""
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise InvalidArgumentError(
            f"a filter must be a dict of metadata conditions, got {type(filter).__name__}"
        )
    return _translate(filter)


def _translate(filter: Mapping[str, Any]) -> dict[str, Any]:
    translated: dict[str, Any] = {}
    for key, value in filter.items():
        if key in _COMBINATORS:
            if not isinstance(value, list):
                raise InvalidArgumentError(f"{key} takes a list of filters, got {value!r}")
            translated[key] = [_nested(part, key) for part in value]
        elif key == "$not":
            translated[key] = _nested(value, key)
        elif isinstance(key, str) and key.startswith("$"):
            raise InvalidArgumentError(
                f"unsupported filter combinator {key!r}; nighdb supports $and, $or and $not"
            )
        elif isinstance(value, Mapping):
            translated[key] = _conditions(key, value)
        else:
            translated[key] = value
    return translated


def _nested(part: Any, combinator: str) -> dict[str, Any]:
    if not isinstance(part, Mapping):
        raise InvalidArgumentError(f"{combinator} takes filters (dicts), got {part!r}")
    return _translate(part)


def _conditions(field: str, conditions: Mapping[str, Any]) -> dict[str, Any]:
    """``{"$gte": 1, "$lt": 5}`` → ``{"gte": 1, "lt": 5}`` for one field."""
    translated: dict[str, Any] = {}
    for operator, operand in conditions.items():
        if operator == "$between":
            if not isinstance(operand, (list, tuple)) or len(operand) != 2:
                raise InvalidArgumentError(
                    f"$between on {field!r} takes [low, high], got {operand!r}"
                )
            translated["gte"], translated["lte"] = operand
        elif operator in _OPERATORS:
            translated[_OPERATORS[operator]] = operand
        elif isinstance(operator, str) and operator.startswith("$"):
            raise InvalidArgumentError(
                f"filter operator {operator!r} on {field!r} has no nighdb equivalent; "
                f"the supported operators are {_SUPPORTED}"
            )
        else:
            translated[operator] = operand  # nighdb's own operator names pass through
    return translated
