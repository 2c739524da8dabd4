"""A pure-Python reference of the filter language, written from contract §6 and §12 alone.

It evaluates the *raw* filter dict (not ``nighdb.filters``' tree), so the property tests
check the parser and every backend's compiler together against an independent reading of
the contract. ``valid`` is the same reading of which filters are ``invalid_argument``.

Values are classified by JSON type: ``bool`` is checked before numbers because Python's
``bool`` subclasses ``int``, yet the contract says ``true`` ≠ 1. An absent key and JSON null are
both ``None`` here: the contract gives them the same meaning everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["json_type", "matches", "valid"]

_RANGES = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}
_OPERATORS = {"eq", "ne", "in", "not_in", "exists", *_RANGES}


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "composite"  # arrays and objects are values that only ne/not_in/exists can see


def _eq(value: object, operand: object) -> bool:
    kind = json_type(value)
    return (
        kind in ("number", "string", "boolean") and kind == json_type(operand) and value == operand
    )


def _in(value: object, operand: object) -> bool:
    return any(_eq(value, o) for o in (operand if isinstance(operand, list) else [operand]))


def _operator(value: object, op: str, operand: Any) -> bool:
    if op == "eq":
        return _eq(value, operand)
    if op == "ne":
        return not _eq(value, operand)
    if op == "in":
        return _in(value, operand)
    if op == "not_in":
        return not _in(value, operand)
    if op == "exists":
        return bool((value is not None) == operand)
    kind = json_type(value)  # ranges: numbers with numbers, strings with strings (code points)
    return (
        kind in ("number", "string") and kind == json_type(operand) and _RANGES[op](value, operand)
    )


def matches(filter: Mapping[str, Any] | None, item_id: str, metadata: Mapping[str, Any]) -> bool:
    """Whether the item passes ``filter`` (a valid filter; ``None`` and ``{}`` pass all)."""
    if filter is None:
        return True
    for key, cond in filter.items():
        if key == "$and":
            ok = all(matches(f, item_id, metadata) for f in cond)
        elif key == "$or":
            ok = any(matches(f, item_id, metadata) for f in cond)
        elif key == "$not":
            ok = not matches(cond, item_id, metadata)
        else:
            value = item_id if key == "id" else metadata.get(key)
            if isinstance(cond, list):
                ok = _in(value, cond)
            elif isinstance(cond, Mapping):
                ok = all(_operator(value, op, operand) for op, operand in cond.items())
            else:
                ok = _eq(value, cond)
        if not ok:
            return False
    return True


def _text(value: str) -> bool:
    """Valid Unicode without NUL, like every stored string (§1)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return "\x00" not in value


def _scalar(value: object) -> bool:
    """An operand element: string, finite number or boolean. Valid NUL-free text and 64-bit
    integers are the §1/§12 limits on stored data, which nighdb applies to operands too."""
    kind = json_type(value)
    if kind == "string":
        return _text(value)  # type: ignore[arg-type]
    if kind == "number" and isinstance(value, int):
        return -(2**63) <= value <= 2**63 - 1
    if kind == "number":
        return math.isfinite(value)  # type: ignore[arg-type]
    return kind == "boolean"


def _valid_operand(op: object, operand: object) -> bool:
    if op not in _OPERATORS:
        return False
    if op == "exists":
        return isinstance(operand, bool)
    if op in ("in", "not_in"):
        return all(map(_scalar, operand)) if isinstance(operand, list) else _scalar(operand)
    if op in _RANGES:
        return json_type(operand) in ("number", "string") and _scalar(operand)
    return _scalar(operand)


def valid(filter: object) -> bool:
    """Whether the contract accepts ``filter`` (ignoring the parser's depth and size bounds)."""
    if filter is None:
        return True
    if not isinstance(filter, Mapping):
        return False
    for key, cond in filter.items():
        if key in ("$and", "$or"):
            ok = isinstance(cond, list) and all(isinstance(f, Mapping) and valid(f) for f in cond)
        elif key == "$not":
            ok = isinstance(cond, Mapping) and valid(cond)
        elif not isinstance(key, str) or not key or key.startswith("$") or not _text(key):
            ok = False
        elif isinstance(cond, list):
            ok = all(map(_scalar, cond))
        elif isinstance(cond, Mapping):
            ok = bool(cond) and all(_valid_operand(op, x) for op, x in cond.items())
        else:
            ok = _scalar(cond)
        if not ok:
            return False
    return True
