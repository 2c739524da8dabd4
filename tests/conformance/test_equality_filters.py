"""Equality filters (``eq``, ``in``, ``ne``) at the edges of JSON's types, on every backend.

PostgreSQL serves equality through a jsonb containment index, whose notion of "equal" is not
the contract's by itself (it would let a nested object or an array stand in for a scalar);
these cases pin the contract's: 1 equals 1.0 but not true or "1", null and absent keys never
match, nested and dotted keys are not paths, and int64 values compare exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

import nighdb

from ..reference_filter import matches
from ._helpers import TENANT, make

BIG = 2**63 - 1

METADATA: dict[str, dict[str, Any]] = {
    "int": {"v": 1},
    "float": {"v": 1.0},
    "true": {"v": True},
    "false": {"v": False},
    "string": {"v": "1"},
    "null": {"v": None},
    "absent": {"w": 1},
    "zero": {"v": 0},
    "negzero": {"v": -0.0},
    "object": {"v": {"v": 1}},
    "array": {"v": [1]},
    "dotted": {"v.w": 1},
    "big": {"v": BIG},
    "big-1": {"v": BIG - 1},
    "half": {"v": 0.5},
}

CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"v": 1}, {"int", "float"}),
    ({"v": 1.0}, {"int", "float"}),
    ({"v": True}, {"true"}),
    ({"v": False}, {"false"}),
    ({"v": "1"}, {"string"}),
    ({"v": 0}, {"zero", "negzero"}),
    ({"v": -0.0}, {"zero", "negzero"}),
    ({"v": 0.5}, {"half"}),
    ({"v": BIG}, {"big"}),
    ({"v": [1, True]}, {"int", "float", "true"}),
    ({"v": {"in": ["1", 1.0, False]}}, {"int", "float", "string", "false"}),
    ({"v": {"in": [BIG - 1, 7]}}, {"big-1"}),
    ({"v.w": 1}, {"dotted"}),
    ({"w": 1, "v": 1}, set()),
    ({"v": {"ne": 1}}, set(METADATA) - {"int", "float"}),
    ({"v": {"not_in": [True, "1"]}}, set(METADATA) - {"true", "string"}),
    ({"$or": [{"v": 1}, {"v": "1"}]}, {"int", "float", "string"}),
    ({"$not": {"v": [0, 1]}}, set(METADATA) - {"int", "float", "zero", "negzero"}),
]


@pytest.fixture
def filled(store: nighdb.Store) -> nighdb.Store:
    make(store, "docs", 2)
    store.upsert(
        TENANT,
        "docs",
        [{"id": key, "vector": [1.0, 0.5], "metadata": meta} for key, meta in METADATA.items()],
    )
    return store


@pytest.mark.parametrize(("filter", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_equality_at_type_edges(
    filled: nighdb.Store, filter: dict[str, Any], expected: set[str]
) -> None:
    reference = {key for key, meta in METADATA.items() if matches(filter, key, meta)}
    assert reference == expected  # the cases themselves agree with the reference
    assert set(filled.list_ids(TENANT, "docs", filter=filter, limit=100)) == expected
    assert filled.count(TENANT, "docs", filter=filter) == len(expected)
    found = filled.search(TENANT, "docs", [1.0, 0.0], limit=100, filter=filter)
    assert {m.id for m in found} == expected
