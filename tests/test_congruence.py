"""Congruence: the same seeded data and the same calls give the same answers on every backend.

Every variant of ``tests/conftest.py``'s ``BACKENDS`` (opened the way the conformance suite
opens them) gets the same collections and items: a few hundred items per metric with
metadata of every JSON type (integers beyond 2**53, float edge values, unicode strings,
booleans, nulls, arrays, nested objects), ids with unicode, quotes and slashes, and exact
duplicate vectors for ties. Then the same calls run everywhere and each outcome is compared
with the plain ``sqlite`` backend's (the reference, the idea of qdrant-client's congruence
tests):

- a result: ids and their order exactly, distances and scores within 1e-9 relative (float64
  rounding of the same sum taken in another order), metadata and text exactly (as canonical
  JSON, so 12 ≠ 12.0 and -0.0 ≠ 0.0; object key order is not part of the contract), fetched
  vectors bit for bit;
- an error: the same class, code, details and message (the message is built from the
  details by the error class on every backend, and the remote backend gets the service's).

``test_reads_agree`` compares read-only calls (and calls that must fail without writing) on
the seeded collections; ``test_write_sequence_agrees`` runs one script of writes, reads and
failing calls step by step in a tenant of its own. Independently of the comparison, the
reference's filtered selections are checked against the pure-Python reading of the contract
(``reference_filter``), so "every backend agrees" cannot mean "every backend is wrong the
same way". ``test_comparison_detects_each_kind_of_difference`` shows the comparison fails on
each kind of difference it is meant to catch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection, Item, Match

from .conftest import BACKENDS, _open
from .reference_filter import matches

REFERENCE = "sqlite"
# The indexed variants answer approximately, so the conformance suite checks them instead.
VARIANTS = [b for b in BACKENDS if b != REFERENCE and not b.endswith("-indexed")]

TENANT = "tenant ü/'\""  # reaches every path segment and SQL parameter of every backend
WRITER = "writer"  # test_write_sequence_agrees's own tenant
DIMS = 24
N_ITEMS = 240
BIG = 100_000  # larger than any collection: the result is every match
METRICS = ("cosine", "l2", "ip")
NAMES = {m: f'vecs "{m}"/ü' for m in METRICS}

KEYS = ["n", "s", "flag", "x.y", "text", "id", "tags", "obj"]
SCALARS: list[Any] = [
    *(0, 1, -1, 2, 12, 12.0, 12.5, -0.0, 0.1, 1e-300, 1e300, 2.0**60),
    *(2**53, 2**53 + 1, float(2**53), 2**60 + 14, 2**63 - 1, -(2**63)),
    *("", "a", "A", "b", "ab", "Z", "é", "e\u0301", "日本", "true", "12", " a", "a b", "🦉"),
    *(True, False),
]
COMPOSITES: list[Any] = [
    None,
    [],
    ["a"],
    [1, 2**60 + 1, None],
    {},
    {"a": 1},
    {"deep": {"er": ["é", {"x": None, "b": True}]}},
]
RANGE_OPERANDS = [v for v in SCALARS if not isinstance(v, bool)]
ID_STEMS = ["doc", "Doc", "döc", "it's", 'say "hi"', "a/b", "..", "10", "9", "日本", "a b"]

Call = Callable[[nighdb.Store], Any]
Outcome = tuple[Any, ...]


# -- the data -------------------------------------------------------------------------------


def random_metadata(rng: np.random.Generator) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in KEYS:
        roll = rng.random()
        if roll < 0.25:
            continue  # absent
        pool = COMPOSITES if roll < 0.4 else SCALARS
        meta[key] = pool[int(rng.integers(len(pool)))]
    return meta


def make_items(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(N_ITEMS, DIMS)).astype(np.float32)
    items = []
    for i in range(N_ITEMS):
        # Every tenth vector repeats an earlier one exactly: equal distances, ordered by id.
        vector = base[i // 2] if i % 10 == 0 else base[i]
        item_id = f"{ID_STEMS[i % len(ID_STEMS)]}-{i}"
        items.append(
            {
                "id": item_id,
                "vector": vector,
                "metadata": random_metadata(rng),
                "text": f"text of {item_id} — ünïcödé {i % 7}",
            }
        )
    return items


ITEMS = {metric: make_items(seed) for seed, metric in enumerate(METRICS, start=1)}


def seed(store: nighdb.Store) -> None:
    for metric in METRICS:
        store.ensure_collection(TENANT, Collection(NAMES[metric], DIMS, "model-ü", metric))
        # Two batches, so a backend's batching and a replace across batches both take part.
        assert store.upsert(TENANT, NAMES[metric], ITEMS[metric][:100]) == 100
        assert store.upsert(TENANT, NAMES[metric], ITEMS[metric][60:]) == N_ITEMS - 60


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, nighdb.Store]]:
    """One seeded store per backend variant, each on its own database."""
    opened: dict[str, nighdb.Store] = {}
    _reference_outcomes.clear()  # the reference's answers belong to these stores
    _reference_script.clear()
    try:
        for backend in (REFERENCE, *VARIANTS):
            opened[backend] = _open(backend, tmp_path_factory.mktemp(f"congruence-{backend}"))
            seed(opened[backend])
        yield opened
    finally:
        for store in opened.values():
            store.close()


# -- outcomes and their comparison ----------------------------------------------------------


def canonical(value: Any) -> str:
    """JSON text that tells 12 from 12.0 and -0.0 from 0.0 (``==`` does not)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def plain(value: Any) -> Any:
    """A result as plain data that ``assert_same`` can walk."""
    if isinstance(value, Match):
        return {
            "id": value.id,
            "distance": value.distance,
            "score": value.score,
            "metadata": canonical(value.metadata),
            "text": value.text,
        }
    if isinstance(value, Item):
        vector = np.asarray(value.vector)
        return {
            "id": value.id,
            "vector": f"{vector.dtype}:{vector.tobytes().hex()}",  # bit for bit
            "metadata": canonical(dict(value.metadata)),
            "text": value.text,
        }
    if isinstance(value, Collection):
        return {"collection": asdict(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def attempt(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """What ``call(*args, **kwargs)`` did: ``("ok", result)`` or ``("error", class, code,
    details, message)``."""
    try:
        value = call(*args, **kwargs)
    except nighdb.NighError as err:
        return ("error", type(err).__name__, err.code, plain(dict(err.details)), err.message)
    return ("ok", plain(value))


def assert_same(expected: Any, got: Any, where: str = "") -> None:
    """``got`` equals ``expected``: floats within 1e-9 relative, everything else exactly."""
    if isinstance(expected, float) and isinstance(got, float):
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), f"{where}: {got} != {expected}"
        return
    assert type(got) is type(expected), f"{where}: {got!r} != {expected!r}"
    if isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{where}: {len(got)} items != {len(expected)}\n{got!r}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            assert_same(e, g, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert got.keys() == expected.keys(), f"{where}: keys {got.keys()} != {expected.keys()}"
        for key in expected:
            assert_same(expected[key], got[key], f"{where}.{key}")
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"


# -- read-only calls on the seeded collections ----------------------------------------------


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
_reference_outcomes: dict[str, Outcome] = {}


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


# -- one script of writes, compared step by step --------------------------------------------


def write_script() -> list[tuple[str, Call]]:
    """Steps in order, each observed on every backend; the tenant ``WRITER`` is theirs alone."""
    name = "w/é 'x'"
    rng = np.random.default_rng(99)
    vectors = rng.normal(size=(60, 16)).astype(np.float32)
    batch = [
        {
            "id": f"{ID_STEMS[i % len(ID_STEMS)]}-{i}",
            "vector": vectors[i],
            "metadata": {"i": i, "big": 2**62 + i, "odd": bool(i % 2), "tags": ["x", i]},
            "text": f"wörd {i}",
        }
        for i in range(60)
    ]
    ids = [str(item["id"]) for item in batch]
    q = vectors[7] + 0.01

    def view(s: nighdb.Store) -> Any:
        """Everything observable about the collection, in an order every backend shares."""
        return (
            s.count(WRITER, name),
            sorted(s.list_ids(WRITER, name)),
            s.fetch(WRITER, name, [*ids, "dup", "replaced"]),
            s.search(WRITER, name, q, limit=BIG),
        )

    return [
        ("ensure", lambda s: s.ensure_collection(WRITER, Collection(name, 16, "m", "l2"))),
        ("ensure-again", lambda s: s.ensure_collection(WRITER, Collection(name, 0, "", "l2"))),
        (
            "ensure-empty-metric",
            lambda s: s.ensure_collection(WRITER, Collection(name, 16, "m", "")),
        ),
        ("empty-view", view),
        ("upsert-empty", lambda s: s.upsert(WRITER, name, [])),
        ("upsert", lambda s: s.upsert(WRITER, name, batch[:40])),
        ("view", view),
        ("upsert-overlapping", lambda s: s.upsert(WRITER, name, batch[30:])),
        ("view-2", view),
        (
            "upsert-duplicates-last-wins",
            lambda s: s.upsert(
                WRITER,
                name,
                [
                    {"id": "dup", "vector": vectors[0], "metadata": {"v": 1}, "text": "first"},
                    {"id": "dup", "vector": vectors[1], "metadata": {"v": 2}, "text": "second"},
                ],
            ),
        ),
        (
            "replace-drops-metadata-and-text",
            lambda s: s.upsert(WRITER, name, [{"id": ids[3], "vector": vectors[3]}]),
        ),
        (
            "items-as-Item",
            lambda s: s.upsert(WRITER, name, [Item("replaced", vectors[9], {"k": None}, "t")]),
        ),
        ("view-3", view),
        (
            "upsert-bad-third-item",
            lambda s: s.upsert(
                WRITER,
                name,
                [{"id": "n1", "vector": vectors[0]}, batch[0], {"id": "n2", "vector": [1.0]}],
            ),
        ),
        ("view-after-failed-upsert", view),
        ("delete", lambda s: s.delete(WRITER, name, [ids[0], "absent", ids[0], ids[1]])),
        ("delete-none", lambda s: s.delete(WRITER, name, [])),
        ("delete-again", lambda s: s.delete(WRITER, name, [ids[0]])),
        ("delete-invalid", lambda s: s.delete(WRITER, name, [ids[2], ""])),
        ("view-after-delete", view),
        (
            "search_many",
            lambda s: s.search_many(WRITER, name, vectors[:4], limit=3, filter={"odd": True}),
        ),
        (
            "pages",
            lambda s: [s.list_ids(WRITER, name, after=a, limit=9) for a in ("", ids[10], "z")],
        ),
        ("conflict-dims", lambda s: s.ensure_collection(WRITER, Collection(name, 8, "m", "l2"))),
        ("conflict-model", lambda s: s.ensure_collection(WRITER, Collection(name, 16, "n", "l2"))),
        ("conflict-metric", lambda s: s.ensure_collection(WRITER, Collection(name, 16, "m", "ip"))),
        ("list_tenants", lambda s: s.list_tenants()),
        (
            "names-in-byte-order",
            lambda s: [
                s.ensure_collection(WRITER, Collection(n, 2, "", "ip"))
                for n in ("beta", "é", "Alpha", "alpha")
            ],
        ),
        ("list_collections", lambda s: s.list_collections(WRITER)),
        ("drop", lambda s: s.drop_collection(WRITER, name)),
        ("drop-again", lambda s: s.drop_collection(WRITER, name)),
        ("describe-dropped", lambda s: s.describe_collection(WRITER, name)),
        ("count-dropped", lambda s: s.count(WRITER, name)),
        ("search-dropped", lambda s: s.search(WRITER, name, q)),
        (
            "recreate-fresh-pin",
            lambda s: s.ensure_collection(WRITER, Collection(name, 3, "", "cosine")),
        ),
        (
            "recreated-is-empty",
            lambda s: (
                s.count(WRITER, name),
                s.list_ids(WRITER, name),
                s.search(WRITER, name, [1.0, 0.0, 0.0]),
            ),
        ),
        ("list_collections-end", lambda s: s.list_collections(WRITER)),
        (
            "drop-the-rest",
            lambda s: [s.drop_collection(WRITER, n) for n in ("beta", "é", "Alpha", "alpha", name)],
        ),
        ("list_tenants-end", lambda s: s.list_tenants()),
    ]


_reference_script: list[Outcome] = []


@pytest.mark.parametrize("variant", VARIANTS)
def test_write_sequence_agrees(stores: dict[str, nighdb.Store], variant: str) -> None:
    steps = write_script()
    if not _reference_script:
        _reference_script.extend(attempt(call, stores[REFERENCE]) for _, call in steps)
    for (label, call), expected in zip(steps, _reference_script, strict=True):
        got = attempt(call, stores[variant])
        assert_same(expected, got, f"step {label!r} on {variant} (expected: {REFERENCE}'s)")


# -- the comparison can fail ----------------------------------------------------------------


def test_comparison_detects_each_kind_of_difference() -> None:
    """Each kind of difference the tests above look for makes ``assert_same`` fail."""
    a = Match("a", 0.25, 0.75, {"n": 12, "s": "é", "z": -0.0}, "text")
    b = Match("b", 0.25, 0.75, {}, "")
    reference = attempt(lambda: [a, b])
    differences: dict[str, Any] = {
        "order": [b, a],
        "missing": [a],
        "extra": [a, b, b],
        "id": [Match("A", *list(vars(a).values())[1:]), b],
        "distance": [Match("a", 0.25 + 1e-7, 0.75, a.metadata, a.text), b],
        "score": [Match("a", 0.25, 0.75 - 1e-7, a.metadata, a.text), b],
        "int-vs-float": [Match("a", 0.25, 0.75, {**a.metadata, "n": 12.0}, a.text), b],
        "zero-sign": [Match("a", 0.25, 0.75, {**a.metadata, "z": 0.0}, a.text), b],
        "metadata": [Match("a", 0.25, 0.75, {"n": 12, "s": "e\u0301", "z": -0.0}, a.text), b],
        "text": [Match("a", 0.25, 0.75, a.metadata, "Text"), b],
    }
    for label, changed in differences.items():
        with pytest.raises(AssertionError):
            assert_same(reference, attempt(lambda c=changed: c), label)
    assert_same(reference, attempt(lambda: [Match("a", 0.25 + 1e-12, 0.75, a.metadata, a.text), b]))

    def raising(err: nighdb.NighError) -> Outcome:
        def call() -> None:
            raise err

        return attempt(call)

    expected = raising(nighdb.DimensionMismatchError("c", 3, 2))
    for label, err in {
        "class": nighdb.InvalidArgumentError("c"),
        "details": nighdb.DimensionMismatchError("c", 3, 4),
        "collection": nighdb.DimensionMismatchError("d", 3, 2),
        "message": nighdb.DimensionMismatchError("c", 3, 2, "another message"),
    }.items():
        with pytest.raises(AssertionError):
            assert_same(expected, raising(err), label)
    with pytest.raises(AssertionError):
        assert_same(expected, attempt(lambda: []), "ok-vs-error")
    item = Item("i", np.array([1.0, 2.0], np.float32), {"k": 1}, "t")
    for label, other in {
        "vector-bits": Item("i", np.array([1.0, np.nextafter(np.float32(2), 3)], np.float32)),
        "vector-dtype": Item("i", np.array([1.0, 2.0], np.float64), {"k": 1}, "t"),
    }.items():
        with pytest.raises(AssertionError):
            assert_same(attempt(lambda: [item]), attempt(lambda o=other: [o]), label)
