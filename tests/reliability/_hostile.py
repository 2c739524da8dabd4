"""Hypothesis strategies for hostile input: the values every public entry point must survive.

NaN, ±inf, huge and tiny numbers, integers past 64 bits, NUL and other control characters,
lone surrogates, huge strings, deep nesting, wrong types, SQL fragments and ``$`` keys.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

SQL = [
    "'; DROP TABLE nigh_collections; --",
    '" OR 1=1 --',
    "') OR ('1'='1",
    "nigh_items_1",
    "x' UNION SELECT key_hash FROM nigh_api_keys --",
    "%",
    "_",
    "\\",
    "$.a",
    "$[0]",
    "->>'a'",
    "::text",
    "\x00",
]
CONTROL = [chr(c) for c in [*range(0, 32), 127, 0x85, 0x2028, 0xFEFF]]

benign_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12
)
texts: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Cf", "Zs"]), max_size=8),
    st.sampled_from(
        SQL + CONTROL + ["", " ", "é", "e\u0301", "\uff44\uff4f\uff43\uff53", "$and", "$or", "id"]
    ),
    st.builds(
        lambda s, n: s * n,
        st.sampled_from(["x", "é", "\U0001f600"]),
        st.sampled_from([257, 1025, 100_000]),
    ),
)
numbers: st.SearchStrategy[Any] = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            math.nan,
            math.inf,
            -math.inf,
            1e308,
            -1e308,
            5e-324,
            -0.0,
            2**63 - 1,
            -(2**63),
            2**63,
            2**64,
            -(2**70),
            10**400,
        ]
    ),
    st.integers(),
)
scalars: st.SearchStrategy[Any] = st.one_of(st.none(), st.booleans(), numbers, texts)
wrong_types: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    texts,
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(texts, st.integers(), max_size=2),
    st.tuples(st.integers()),
    st.just(object()),
    st.just({1, 2}),
)
keys: st.SearchStrategy[Any] = st.one_of(
    texts, st.integers(), st.none(), st.booleans(), st.just((1,))
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


def deep(depth: int, leaf: Any = 1, *, as_list: bool = False) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


def deep_not(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"k": 1}
    for _ in range(depth):
        value = {"$not": value}
    return value


deep_values = st.builds(deep, st.sampled_from([64, 500, 5000]), st.just(1), as_list=st.booleans())
benign_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | benign_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(benign_text, inner, max_size=3),
    max_leaves=8,
)
metadata: st.SearchStrategy[Any] = st.one_of(
    st.dictionaries(benign_text, benign_json, max_size=4),
    st.dictionaries(keys, json_values, max_size=4),
    st.dictionaries(texts, deep_values, max_size=1),
    wrong_types,
)
vectors: st.SearchStrategy[Any] = st.one_of(
    st.lists(
        st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: abs(x) > 1e-3),
        min_size=3,
        max_size=3,
    ),
    st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
    st.lists(numbers, min_size=3, max_size=3),
    st.lists(st.floats(-10, 10, allow_nan=False), min_size=0, max_size=5),
    st.lists(wrong_types, min_size=3, max_size=3),
    wrong_types,
)
ids: st.SearchStrategy[Any] = st.one_of(benign_text, texts, wrong_types)

OPERATORS = [
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "like",
    "$eq",
    "EQ",
    "",
]
operands: st.SearchStrategy[Any] = st.one_of(
    scalars, st.lists(scalars, max_size=3), json_values, wrong_types
)
filters: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.dictionaries(keys, operands, max_size=2),
        st.dictionaries(
            texts | st.sampled_from(["id", "kind", "n", "b"]),
            st.dictionaries(st.sampled_from(OPERATORS) | keys, operands, max_size=2),
            max_size=2,
        ),
        wrong_types,
    ),
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, max_size=3) | wrong_types),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, max_size=3) | wrong_types),
        st.builds(lambda f: {"$not": f}, inner),
        st.dictionaries(
            st.sampled_from(["$and", "$or", "$not", "$nor", "$", "$where"]), inner, max_size=2
        ),
    ),
    max_leaves=8,
) | st.builds(deep_not, st.sampled_from([50, 1000, 20_000]))

FIELDS = ["id", "kind", "n", "b", "tags", "nested", "missing", "$and"]
_valid_scalar = st.one_of(
    st.booleans(), st.integers(-5, 5), st.floats(-3, 3), st.sampled_from(["x", "y", "a", "é"])
)
_condition = st.one_of(
    _valid_scalar,
    st.lists(_valid_scalar, max_size=3),
    st.dictionaries(
        st.sampled_from(["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"]),
        _valid_scalar,
        min_size=1,
        max_size=2,
    ),
    st.builds(lambda b: {"exists": b}, st.booleans()),
)
benign_filters: st.SearchStrategy[Any] = st.recursive(
    st.dictionaries(st.sampled_from(FIELDS[:-1]), _condition, max_size=2),
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, max_size=3)),
        st.builds(lambda f: {"$not": f}, inner),
    ),
    max_leaves=6,
)
