"""LlamaIndex ``MetadataFilters`` translated to nighdb's filter language (contract §6).

Every ``FilterOperator`` LlamaIndex defines is either translated exactly or refused with an
``InvalidArgumentError`` that names it (a filter that silently matched something else would
return the wrong nodes):

=================================  =======================================================
LlamaIndex                         nighdb
=================================  =======================================================
``EQ NE GT GTE LT LTE``            ``eq ne gt gte lt lte``
``IN`` / ``NIN``                   ``in`` / ``not_in``
condition ``AND`` / ``OR``         ``$and`` / ``$or``
condition ``NOT``                  ``$not`` of ``$or``: none of the filters matches, as in
                                   LlamaIndex's own in-memory store
``ANY ALL CONTAINS``               refused: nighdb compares a list as one value, it does not
                                   look inside it (§6)
``TEXT_MATCH[_INSENSITIVE]``       refused: no substring match in §6
``IS_EMPTY``                       refused: §6 can test "absent or null" (``exists``) but
                                   not "an empty list", which IS_EMPTY includes
=================================  =======================================================
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from ..errors import InvalidArgumentError

__all__ = ["to_nigh_filter"]

_OPERATORS = {
    FilterOperator.EQ: "eq",
    FilterOperator.NE: "ne",
    FilterOperator.GT: "gt",
    FilterOperator.GTE: "gte",
    FilterOperator.LT: "lt",
    FilterOperator.LTE: "lte",
    FilterOperator.IN: "in",
    FilterOperator.NIN: "not_in",
}


def to_nigh_filter(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """The nighdb filter for LlamaIndex ``filters`` (``None`` stays ``None``)."""
    if filters is None:
        return None
    return _translate(filters)


def _translate(filters: MetadataFilters) -> dict[str, Any]:
    parts = [
        _translate(part) if isinstance(part, MetadataFilters) else _leaf(part)
        for part in filters.filters
    ]
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return {"$and": parts}
    if condition == FilterCondition.OR:
        return {"$or": parts}
    if condition == FilterCondition.NOT:
        return {"$not": {"$or": parts}}
    raise InvalidArgumentError(f"unsupported filter condition {condition!r}")


def _leaf(filter: Any) -> dict[str, Any]:
    # A legacy ExactMatchFilter has no operator: it is an equality.
    operator = getattr(filter, "operator", FilterOperator.EQ)
    if not isinstance(filter, MetadataFilter) and operator != FilterOperator.EQ:
        raise InvalidArgumentError(f"unsupported filter {filter!r}")
    nigh = _OPERATORS.get(operator)
    if nigh is None:
        raise InvalidArgumentError(
            f"filter operator {operator.name} on {filter.key!r} has no exact nighdb "
            f"equivalent; supported: {', '.join(op.name for op in _OPERATORS)}"
        )
    if filter.value is None:
        raise InvalidArgumentError(
            f"filter on {filter.key!r} compares with None; nighdb matches absent or null "
            "fields with the exists operator of its own filter syntax"
        )
    return {filter.key: {nigh: filter.value}}
