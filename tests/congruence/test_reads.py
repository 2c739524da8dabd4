"""Read-only calls on the seeded collections agree with the reference on every backend.

``test_reads_agree`` compares searches under random and named filters (one per kind of the
contract's language, §6), paging, fetches, and calls that must fail without writing.
Independently of the comparison, ``test_reference_selects_what_the_contract_says`` checks the
reference's filtered selections against the pure-Python reading of the contract
(``reference_filter``), so "every backend agrees" cannot mean "every backend is wrong the same
way".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection

from ..reference_filter import matches
from .conftest import _reference_outcomes
from .data import (
    BIG,
    DIMS,
    ITEMS,
    KEYS,
    METRICS,
    NAMES,
    RANGE_OPERANDS,
    REFERENCE,
    SCALARS,
    TENANT,
    VARIANTS,
)
from .outcomes import Call, Outcome, assert_same, attempt


def random_condition(rng: np.random.Generator) -> Any:
    op = ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "bare", "list"][
        int(rng.integers(11))
    ]
    pick = SCALARS[int(rng.integers(len(SCALARS)))]
    if op == "bare":
        return pick
    if op == "list":
        return [SCALARS[int(rng.integers(len(SCALARS)))] for _ in range(int(rng.integers(0, 4)))]
    if op == "exists":
        return {"exists": bool(rng.integers(2))}
    if op in ("in", "not_in"):
        return {op: [SCALARS[int(rng.integers(len(SCALARS)))] for _ in range(int(rng.integers(4)))]}
    if op in ("gt", "gte", "lt", "lte"):
        return {op: RANGE_OPERANDS[int(rng.integers(len(RANGE_OPERANDS)))]}
    return {op: pick}


def random_filter(rng: np.random.Generator, depth: int = 0) -> dict[str, Any]:
    roll = rng.random()
    if depth < 2 and roll < 0.25:
        kind = ["$and", "$or"][int(rng.integers(2))]
        return {kind: [random_filter(rng, depth + 1) for _ in range(int(rng.integers(0, 3)))]}
    if depth < 2 and roll < 0.35:
        return {"$not": random_filter(rng, depth + 1)}
    fields = [*KEYS, "never_stored"]
    count = int(rng.integers(1, 3))
    return {fields[int(rng.integers(len(fields)))]: random_condition(rng) for _ in range(count)}


def random_searches(seed: int) -> list[tuple[dict[str, Any] | None, int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(50):
        spec = random_filter(rng) if rng.random() < 0.85 else None
        limit = [1, 3, 10, 40, BIG][int(rng.integers(5))]
        out.append((spec, limit, rng.normal(size=DIMS).astype(np.float32)))
    return out


RANDOM_SEARCHES = {metric: random_searches(seed) for seed, metric in enumerate(METRICS, 10)}


def some_id(metric: str, i: int) -> str:
    return str(ITEMS[metric][i]["id"])


# One named filter per kind of the contract's language (§6), on the cosine collection.
FILTERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "empty": {},
    "eq-int": {"n": 12},
    "eq-int-as-float": {"n": 12.0},
    "eq-beyond-2**53": {"n": 2**53 + 1},
    "eq-2**63-1": {"n": {"eq": 2**63 - 1}},
    "eq-unicode": {"s": "é"},
    "eq-combining": {"s": "e\u0301"},
    "eq-bool": {"flag": True},
    "eq-string-true": {"flag": "true"},
    "eq-on-arrays": {"tags": "a"},
    "ne": {"s": {"ne": "a"}},
    "ne-bool": {"flag": {"ne": False}},
    "in": {"n": [1, 2, "a", True]},
    "in-scalar": {"s": {"in": "Z"}},
    "in-empty": {"n": {"in": []}},
    "not_in": {"s": {"not_in": ["a", "b", 12]}},
    "not_in-empty": {"s": {"not_in": []}},
    "gt": {"n": {"gt": 1}},
    "gte-big": {"n": {"gte": 2**53}},
    "lt-negative": {"n": {"lt": 0}},
    "lte-float": {"n": {"lte": 0.1}},
    "range-both-ends": {"n": {"gt": -1, "lte": 12.5}},
    "range-strings": {"s": {"gte": "a", "lt": "b"}},
    "range-unicode": {"s": {"gt": "Z"}},
    "exists": {"obj": {"exists": True}},
    "not-exists": {"obj": {"exists": False}},
    "dotted-key": {"x.y": {"exists": True}},
    "text-key": {"text": {"ne": "a"}},
    "metadata-id-key": {"id": {"exists": True}},
    "never-stored": {"never_stored": {"ne": 1}},
    "and": {"$and": [{"n": {"gte": 0}}, {"s": {"exists": True}}]},
    "and-empty": {"$and": []},
    "or": {"$or": [{"flag": True}, {"s": "a"}, {"n": 2**60 + 14}]},
    "or-empty": {"$or": []},
    "not": {"$not": {"s": {"lt": "b"}}},
    "nested": {"$or": [{"$not": {"n": {"exists": True}}}, {"$and": [{"flag": False}, {}]}]},
    "several-keys": {"n": {"exists": True}, "s": {"ne": ""}, "flag": {"ne": True}},
    "id-eq": {"id": some_id("cosine", 5)},
    "id-in": {"id": [some_id("cosine", 3), some_id("cosine", 4), "absent"]},
    "id-ne": {"id": {"ne": some_id("cosine", 7)}},
    "id-range": {"id": {"gte": "a", "lt": "e"}},
    "id-quote-slash": {"id": {"in": [some_id("cosine", 3), some_id("cosine", 5)]}},
    "id-and-metadata": {"id": {"gt": "D"}, "n": {"exists": False}},
}


BAD_FILTERS: dict[str, Any] = {
    "null-operand": {"n": None},
    "unknown-operator": {"n": {"like": "a%"}},
    "unknown-combinator": {"$xor": []},
    "empty-field": {"": 1},
    "bool-range": {"n": {"gt": True}},
    "null-in-list": {"n": {"in": [1, None]}},
    "empty-operator-object": {"n": {}},
    "and-not-a-list": {"$and": {"n": 1}},
    "not-a-filter": {"$not": [{"n": 1}]},
    "exists-not-bool": {"n": {"exists": "yes"}},
    "array-operand": {"n": {"eq": [1]}},
    "object-operand": {"obj": {"eq": {"a": 1}}},
    "array-range": {"n": {"gt": [1]}},
}


def query(k: int) -> np.ndarray:
    return np.random.default_rng(1000 + k).normal(size=DIMS).astype(np.float32)


def collection_cases(metric: str) -> dict[str, Call]:
    name = NAMES[metric]
    return {
        f"describe-{metric}": lambda s: s.describe_collection(TENANT, name),
        f"count-{metric}": lambda s: s.count(TENANT, name),
        f"list_ids-{metric}": lambda s: sorted(s.list_ids(TENANT, name)),
        f"search-{metric}": lambda s: [
            s.search(TENANT, name, query(k), limit=limit)
            for k, limit in enumerate([1, 3, 10, 40, BIG, 0, -5])
        ],
        f"search_many-{metric}": lambda s: s.search_many(
            TENANT,
            name,
            [query(k) for k in range(6)],
            limit=7,
            filter={"n": {"exists": True}},
        ),
        f"random-filters-{metric}": lambda s: [
            (spec, attempt(s.search, TENANT, name, q, limit=limit, filter=spec))
            for spec, limit, q in RANDOM_SEARCHES[metric]
        ],
    }


def filter_case(spec: dict[str, Any] | None) -> Call:
    cosine = NAMES["cosine"]
    return lambda s: [
        s.search(TENANT, cosine, query(0), limit=BIG, filter=spec),
        s.search(TENANT, cosine, query(1), limit=5, filter=spec),
    ]


def bad_filter_case(spec: Any) -> Call:
    return lambda s: s.search(TENANT, NAMES["cosine"], query(0), filter=spec)


def list_after_case(after: str) -> Call:
    return lambda s: s.list_ids(TENANT, NAMES["cosine"], after=after, limit=11)


def upsert_case(batch: list[dict[str, Any]]) -> Call:
    return lambda s: s.upsert(TENANT, NAMES["cosine"], batch)


def count_case(spec: dict[str, Any] | None) -> Call:
    return lambda s: s.count(TENANT, NAMES["cosine"], filter=spec)


def filtered_ids_case(spec: dict[str, Any] | None) -> Call:
    return lambda s: sorted(s.list_ids(TENANT, NAMES["cosine"], filter=spec))


def scroll_case(spec: dict[str, Any] | None) -> Call:
    def pages(s: nighdb.Store) -> list[list[nighdb.Item]]:
        out: list[list[nighdb.Item]] = []
        after: str | None = None
        while page := s.scroll(TENANT, NAMES["cosine"], filter=spec, after=after, limit=23):
            out.append(page)
            after = page[-1].id
        return out

    return pages


def read_cases() -> dict[str, Call]:
    cases: dict[str, Call] = {}
    cosine = NAMES["cosine"]
    cases["list_collections"] = lambda s: s.list_collections(TENANT)
    for metric in METRICS:
        cases.update(collection_cases(metric))
    cases["describe-missing"] = lambda s: s.describe_collection(TENANT, "missing")
    cases["describe-other-tenant"] = lambda s: s.describe_collection("other", cosine)
    cases["list_collections-other-tenant"] = lambda s: s.list_collections("other")
    cases["search_many-none"] = lambda s: s.search_many(TENANT, cosine, [], limit=3)
    cases["search_many-numpy-matrix"] = lambda s: s.search_many(
        TENANT, cosine, np.stack([query(k) for k in range(3)]), limit=4
    )
    for label, spec in FILTERS.items():
        cases[f"filter-{label}"] = filter_case(spec)
    for label, spec in BAD_FILTERS.items():
        cases[f"bad-filter-{label}"] = bad_filter_case(spec)
    for label, spec in list(FILTERS.items())[::3]:  # operations by filter (contract §13)
        cases[f"count-{label}"] = count_case(spec)
        cases[f"list_ids-filter-{label}"] = filtered_ids_case(spec)
        cases[f"scroll-{label}"] = scroll_case(spec)
    probe = [some_id("cosine", i) for i in (5, 0, 5, 17, 3)] + ["absent", some_id("l2", 1)]
    cases["fetch"] = lambda s: s.fetch(TENANT, cosine, probe)
    cases["fetch-none"] = lambda s: s.fetch(TENANT, cosine, [])

    def pages(s: nighdb.Store) -> list[list[str]]:
        out, after = [], None
        while page := s.list_ids(TENANT, cosine, after=after, limit=37):
            out.append(page)
            after = page[-1]
        return out

    cases["list_ids-pages"] = pages
    for after in ("", "Doc", "döc-2", "it's", "\U0010ffff"):
        cases[f"list_ids-after-{after!r}"] = list_after_case(after)
    cases["list_ids-after-no-limit"] = lambda s: s.list_ids(TENANT, cosine, after="a")

    # Calls that must fail (and write nothing): the error and, where writing, the count after.
    def failed_write(call: Call) -> Call:
        return lambda s: (
            attempt(call, s),
            s.count(TENANT, cosine),
            s.fetch(TENANT, cosine, probe[:1]),
        )

    item = {"id": "new", "vector": [0.5] * DIMS}
    bad_batches: dict[str, list[dict[str, Any]]] = {
        "wrong-dims": [item, {"id": "short", "vector": [1.0] * (DIMS - 1)}],
        "empty-id": [item, {"id": "", "vector": [1.0] * DIMS}],
        "nul-id": [item, {"id": "a\0b", "vector": [1.0] * DIMS}],
        "long-id": [item, {"id": "x" * 1025, "vector": [1.0] * DIMS}],
        "nan-vector": [item, {"id": "nan", "vector": [float("nan")] * DIMS}],
        "zero-vector": [item, {"id": "zero", "vector": [0.0] * DIMS}],
        "non-string-key": [item, {"id": "k", "vector": [1.0] * DIMS, "metadata": {1: "a"}}],
        "nan-metadata": [
            item,
            {"id": "k", "vector": [1.0] * DIMS, "metadata": {"a": float("inf")}},
        ],
        "nul-text": [item, {"id": "k", "vector": [1.0] * DIMS, "text": "a\0"}],
        "replace-then-bad": [
            {"id": probe[0], "vector": [0.5] * DIMS},
            {"id": "short", "vector": [1.0]},
        ],
    }
    for label, batch in bad_batches.items():
        cases[f"bad-upsert-{label}"] = failed_write(upsert_case(batch))
    cases["bad-delete-empty-id"] = failed_write(lambda s: s.delete(TENANT, cosine, [probe[0], ""]))
    cases["bad-delete-nul-id"] = failed_write(lambda s: s.delete(TENANT, cosine, [probe[0], "\0"]))

    for label, call in {
        "search-wrong-dims": lambda s: s.search(TENANT, cosine, [1.0] * (DIMS + 1)),
        "search_many-wrong-dims": lambda s: s.search_many(TENANT, cosine, [[1.0] * DIMS, [1.0]]),
        "search-nan": lambda s: s.search(TENANT, cosine, [float("nan")] * DIMS),
        "search-inf": lambda s: s.search(TENANT, NAMES["l2"], [float("inf")] + [0.0] * (DIMS - 1)),
        "search-zero-cosine": lambda s: s.search(TENANT, cosine, [0.0] * DIMS),
        "search-zero-l2": lambda s: s.search(TENANT, NAMES["l2"], [0.0] * DIMS, limit=3),
        "list_ids-limit-0": lambda s: s.list_ids(TENANT, cosine, limit=0),
        "ensure-conflict-dims": lambda s: s.ensure_collection(TENANT, Collection(cosine, 3)),
        "ensure-conflict-model": lambda s: s.ensure_collection(
            TENANT, Collection(cosine, DIMS, "other-model")
        ),
        "ensure-conflict-metric": lambda s: s.ensure_collection(
            TENANT, Collection(cosine, 0, "", "l2")
        ),
        "ensure-compatible": lambda s: s.ensure_collection(TENANT, Collection(cosine, 0)),
        "ensure-bad-metric": lambda s: s.ensure_collection(
            TENANT, Collection(cosine, DIMS, "", "dot")
        ),
        "ensure-too-many-dims": lambda s: s.ensure_collection(TENANT, Collection("new", 16001)),
        "ensure-zero-dims": lambda s: s.ensure_collection(TENANT, Collection("new", 0)),
        "ensure-negative-dims": lambda s: s.ensure_collection(TENANT, Collection(cosine, -1)),
        "ensure-empty-name": lambda s: s.ensure_collection(TENANT, Collection("", DIMS)),
        "empty-tenant": lambda s: s.count("", cosine),
        "nul-tenant": lambda s: s.list_collections("a\0"),
        "long-tenant": lambda s: s.describe_collection("t" * 257, cosine),
        "long-name": lambda s: s.count(TENANT, "c" * 257),
        "nul-name": lambda s: s.describe_collection(TENANT, "a\0"),
        "empty-name-drop": lambda s: s.drop_collection(TENANT, ""),
        "missing-count": lambda s: s.count(TENANT, "missing"),
        "missing-search": lambda s: s.search(TENANT, "missing", [1.0], filter={"n": None}),
        "missing-search_many": lambda s: s.search_many(TENANT, "missing", [[1.0]]),
        "missing-upsert": lambda s: s.upsert(TENANT, "missing", [{"id": "", "vector": []}]),
        "missing-delete": lambda s: s.delete(TENANT, "missing", ["a"]),
        "missing-fetch": lambda s: s.fetch(TENANT, "missing", ["a"]),
        "missing-list_ids": lambda s: s.list_ids(TENANT, "missing", limit=0),
        "other-tenant-count": lambda s: s.count("other", cosine),
        "missing-drop": lambda s: s.drop_collection(TENANT, "missing"),
    }.items():
        cases[label] = call
    return cases


READS = read_cases()


def reference(stores: dict[str, nighdb.Store], case: str) -> Outcome:
    if case not in _reference_outcomes:
        _reference_outcomes[case] = attempt(READS[case], stores[REFERENCE])
    return _reference_outcomes[case]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", list(READS))
def test_reads_agree(stores: dict[str, nighdb.Store], case: str, variant: str) -> None:
    expected = reference(stores, case)
    got = attempt(READS[case], stores[variant])
    assert_same(expected, got, f"{case} on {variant} (expected: {REFERENCE}'s)")


@pytest.mark.parametrize("metric", METRICS)
def test_reference_selects_what_the_contract_says(
    stores: dict[str, nighdb.Store], metric: str
) -> None:
    """The reference's selections, independent of ranking, against ``reference_filter``."""
    store = stores[REFERENCE]
    by_id = {str(item["id"]): item for item in ITEMS[metric]}
    specs = [spec for spec, _, _ in RANDOM_SEARCHES[metric]]
    if metric == "cosine":
        specs += FILTERS.values()
    for spec in specs:
        found = store.search(TENANT, NAMES[metric], query(0), limit=BIG, filter=spec)
        expected = {i for i, item in by_id.items() if matches(spec, i, item["metadata"])}
        assert {m.id for m in found} == expected, spec
