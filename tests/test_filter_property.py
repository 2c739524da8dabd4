"""Property tests of filters (contract §6, §12) against ``reference_filter``, on every backend.

Random metadata (every JSON type, edge numbers and strings, absent keys, awkward key names)
and random filters (every operator and combinator, nested; operands mostly taken from the
data so they hit) must select exactly the items the reference selects — the filter and each
filter inside it — and a smaller ``limit`` must give exactly ``min(limit, matches)`` of them,
the head of the same ranking. A second property feeds the parser arbitrary JSON: it accepts
exactly what the contract accepts and rejects the rest with ``InvalidArgumentError``, never another
exception. Strings that are not Unicode text (lone surrogates) are ``invalid_argument`` on
every backend, never a leaked codec error.

``NIGH_PROPERTY_EXAMPLES`` scales the search property: 50 examples per backend by default
(each a collection, an upsert and a search per sub-filter: about a second on PostgreSQL),
200 in ``make soak``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nighdb
from nighdb import Collection
from nighdb.filters import parse_filter

from .reference_filter import json_type, matches, valid

TENANT = "prop"
DIMS = 4
EXAMPLES = int(os.environ.get("NIGH_PROPERTY_EXAMPLES", "50"))

# Metadata keys: a dot, "text", a quote, a backslash, a tab and non-ASCII are all literal
# characters of one top-level key. A metadata key "id" exists but the field "id" must
# still address the item id.
KEYS = ["a", "b", "a.b", "text", "n", 'say "hi" ü', "back\\slash", "tab\tkey", "id"]
FIELDS = [*KEYS, "never_stored"]

# Ids in a fixed order; byte order differs from numeric order ("doc10" < "doc9").
IDS = ["Doc1", "doc 1", "döc", "日本", "10", "9", "a.b", "true"] + [f"doc{i}" for i in range(52)]
_rng = np.random.default_rng(20240601)
VECTORS = np.round(_rng.uniform(-1.0, 1.0, size=(len(IDS), DIMS)), 3) + np.array(
    [2.0, 0.0, 0.0, 0.0]
)
assert len({tuple(v) for v in VECTORS}) == len(IDS)  # distinct and (shifted) non-zero
QUERY = [0.3, -0.7, 0.5, 0.2]

# -- values -------------------------------------------------------------------------------

EDGE_SCALARS: list[Any] = [
    *(0, 1, -1, 2, 12, 12.0, 12.5, -0.0, 0.0, 1e-300, 2**53, 2**53 + 1, float(2**53)),
    *(2**63 - 1, -(2**63 - 1), -(2**63), float(2**63), -float(2**63)),
    *(0.1, 5e-324, 1.7976931348623157e308, 4503599627370496.5),
    *("", "a", "A", "b", "B", "ab", "a b", "ab ", " a", "_", "true", "True", "12", "12.0", "1"),
    *("é", "e\u0301", "Ω", "日本", "\ue000", "\uffff", "\U00010000"),  # code point order
    *(True, False),
]
_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=4)
_numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)
)
scalars = st.one_of(
    st.sampled_from(EDGE_SCALARS), st.sampled_from(EDGE_SCALARS), _numbers, _text, st.booleans()
)
range_scalars = st.one_of(  # numbers and strings only: a boolean range operand is invalid
    st.sampled_from([v for v in EDGE_SCALARS if not isinstance(v, bool)]), _numbers, _text
)
_id_strings = st.one_of(st.sampled_from([*IDS, "doc", "doc100", "D", "zzz", ""]), _text)

values = st.one_of(
    st.none(),
    scalars,
    scalars,
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["b", "x", "a"]), scalars, max_size=2),
)
metadatas = st.dictionaries(st.sampled_from(KEYS), values, max_size=len(KEYS))


# -- filters ------------------------------------------------------------------------------

Seen = Mapping[str, Sequence[Any]]
"""Per filter field, the scalar values the data holds there: operands that hit something."""


def seen_values(ids: Sequence[str], metas: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    seen: dict[str, dict[tuple[str, str], Any]] = {"id": {("s", i): i for i in ids}}

    def add(field: str, value: Any) -> None:
        if json_type(value) in ("number", "string", "boolean"):
            seen.setdefault(field, {})[(json_type(value), repr(value))] = value

    for meta in metas:
        for key, value in meta.items():
            add(key, value)
            add("never_stored", value)
            # Inside arrays and objects too: {"tags": "x"} must not match ["x"], and
            # {"a.b": 1} must not match {"a": {"b": 1}}.
            for inner in value if isinstance(value, list) else []:
                add(key, inner)
            for child, inner in value.items() if isinstance(value, dict) else []:
                add(key, inner)
                add(f"{key}.{child}", inner)
    return {field: list(found.values()) for field, found in seen.items()}


def _operands(field: str, seen: Seen) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Strategies for one field's scalar operands and range operands (no booleans)."""
    scalar = st.one_of(_id_strings, scalars) if field == "id" else scalars
    ranged = st.one_of(_id_strings, range_scalars) if field == "id" else range_scalars
    present = list(seen.get(field, ()))
    if present:
        scalar = st.one_of(st.sampled_from(present), st.sampled_from(present), scalar)
    present = [v for v in present if not isinstance(v, bool)]
    if present:
        ranged = st.one_of(st.sampled_from(present), st.sampled_from(present), ranged)
    return scalar, ranged


@st.composite
def conditions(draw: st.DrawFn, field: str, seen: Seen) -> Any:
    """The value of one field key: a scalar (eq), a list (in) or an operator object."""
    scalar, ranged = _operands(field, seen)
    kind = draw(st.sampled_from(["eq", "in", "ops", "ops"]))
    if kind == "eq":
        return draw(scalar)
    if kind == "in":
        return draw(st.lists(scalar, max_size=4))
    ops = draw(
        st.lists(
            st.sampled_from(["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"]),
            min_size=1,
            max_size=2,
            unique=True,
        )
    )
    out: dict[str, Any] = {}
    for op in ops:
        if op == "exists":
            out[op] = draw(st.booleans())
        elif op in ("in", "not_in"):
            out[op] = draw(st.one_of(scalar, st.lists(scalar, max_size=4)))
        elif op in ("eq", "ne"):
            out[op] = draw(scalar)
        else:
            out[op] = draw(ranged)
    return out


@st.composite
def filters(draw: st.DrawFn, seen: Seen | None = None, depth: int = 3) -> dict[str, Any]:
    """A filter object, mostly small: one or two field keys, a combinator, or a mix."""
    seen = seen or {}
    shapes = ["field", "field", "field", "fields", "{}"]
    if depth > 0:
        shapes += ["$and", "$or", "$or", "$not", "mixed"]
    shape = draw(st.sampled_from(shapes))
    spec: dict[str, Any] = {}
    if shape in ("field", "fields", "mixed"):
        count = 2 if shape == "fields" else 1
        for field in draw(st.lists(st.sampled_from(FIELDS), min_size=count, max_size=count)):
            spec[field] = draw(conditions(field, seen))
    if shape in ("$and", "$or", "mixed"):
        comb = shape if shape != "mixed" else draw(st.sampled_from(["$and", "$or", "$not"]))
        if comb == "$not":
            spec[comb] = draw(filters(seen, depth - 1))
        else:
            spec[comb] = draw(st.lists(filters(seen, depth - 1), max_size=3))
    if shape == "$not":
        spec[shape] = draw(filters(seen, depth - 1))
    return spec


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Metadata for 40-60 items, then filters whose operands mostly come from that data."""
    metas = draw(st.lists(metadatas, min_size=40, max_size=len(IDS)))
    seen = seen_values(IDS[: len(metas)], metas)
    return metas, draw(st.lists(filters(seen), min_size=2, max_size=6))


# -- the search property ------------------------------------------------------------------

_collections = itertools.count()


def subfilters(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every filter inside ``spec``, smallest first, then ``spec`` itself: a failure is
    reported on the smallest filter that shows it."""
    out: list[Mapping[str, Any]] = []
    for key, cond in spec.items():
        if key in ("$and", "$or"):
            for child in cond:
                out += subfilters(child)
        elif key == "$not":
            out += subfilters(cond)
        elif isinstance(cond, Mapping) and len(cond) > 1:
            out += [{key: {op: operand}} for op, operand in cond.items()]
        if len(spec) > 1:
            out.append({key: cond})
    return [*out, spec]


def _explain(f: Any, metas: list[dict[str, Any]], expected: set[str], got: set[str]) -> str:
    lines = [f"filter {f!r}"]
    for i, meta in enumerate(metas):
        if IDS[i] in expected ^ got:
            which = "missing" if IDS[i] in expected else "unexpected"
            lines.append(f"  {which}: id={IDS[i]!r} metadata={meta!r}")
    return "\n".join(lines)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    case=cases(),
    limit=st.integers(1, 12),
)
def test_search_selects_what_the_reference_selects(
    store: nighdb.Store, case: tuple[list[dict[str, Any]], list[dict[str, Any]]], limit: int
) -> None:
    metas, specs = case
    # The function-scoped store is shared by every example: each gets its own collection.
    name = f"prop{next(_collections)}"
    store.ensure_collection(TENANT, Collection(name, DIMS))
    try:
        items = [
            {"id": IDS[i], "vector": VECTORS[i].tolist(), "metadata": meta}
            for i, meta in enumerate(metas)
        ]
        store.upsert(TENANT, name, items)
        n = len(items)
        for spec in specs:
            for f in subfilters(spec):
                expected = {IDS[i] for i, meta in enumerate(metas) if matches(f, IDS[i], meta)}
                ranked = [m.id for m in store.search(TENANT, name, QUERY, limit=n, filter=f)]
                assert len(ranked) == len(set(ranked)), f"duplicate ids for {f!r}: {ranked}"
                assert set(ranked) == expected, _explain(f, metas, expected, set(ranked))
            # ``expected`` and ``ranked`` are now spec's own (subfilters ends with it). A
            # smaller limit gives exactly min(limit, matches): the head of the same ranking.
            top = [m.id for m in store.search(TENANT, name, QUERY, limit=limit, filter=spec)]
            assert len(top) == min(limit, len(expected)), f"limit {limit}, filter {spec!r}"
            assert top == ranked[:limit], f"limit {limit}, filter {spec!r}"
    finally:
        store.drop_collection(TENANT, name)


@pytest.mark.parametrize(
    "spec",
    [{"\ud800": 1}, {"a": {"gte": "\udc80"}}, {"a": "\ud800", "n": 2**63 - 1}],
    ids=["field", "operand", "operand-sql"],
)
def test_search_rejects_filter_strings_that_are_not_text(
    store: nighdb.Store, spec: dict[str, Any]
) -> None:
    """Lone surrogates cannot be stored or bound: invalid_argument, never a codec error (§7)."""
    store.ensure_collection(TENANT, Collection("docs", DIMS))
    store.upsert(TENANT, "docs", [{"id": "x", "vector": QUERY, "metadata": {"n": 2**63 - 1}}])
    with pytest.raises(nighdb.NighError) as info:
        store.search(TENANT, "docs", QUERY, filter=spec)
    assert type(info.value) is nighdb.InvalidArgumentError, repr(info.value)


# -- the parser property ------------------------------------------------------------------

_json_keys = st.one_of(
    st.sampled_from(
        [
            *("$and", "$or", "$not", "$nor", "$", "id", "a", "", "\x00", "a\x00", "\ud800"),
            *("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"),
        ]
    ),
    st.text(max_size=3),
)
_json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: beyond 64 bits too
    st.floats(),  # NaN and ±inf too
    st.text(max_size=4),
    st.sampled_from([*EDGE_SCALARS, "\udc80", "a\ud800b"]),  # lone surrogates: not text
)


def _json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=3) | st.dictionaries(_json_keys, children, max_size=3)


_json = st.recursive(_json_leaves, _json_containers, max_leaves=20)


@settings(max_examples=1000, deadline=None)
@given(
    spec=st.one_of(
        _json,
        st.dictionaries(_json_keys, _json, max_size=3),
        st.dictionaries(st.sampled_from(FIELDS), _json, min_size=1, max_size=2),
        filters(depth=2),
    )
)
def test_parser_accepts_what_spec_accepts_and_rejects_the_rest_cleanly(spec: Any) -> None:
    try:
        parse_filter(spec)
    except nighdb.InvalidArgumentError as err:
        assert err.code == "invalid_argument"
        assert not valid(spec), f"parser rejected a valid filter: {err}"
    else:
        assert valid(spec), "parser accepted a filter the contract calls invalid"
