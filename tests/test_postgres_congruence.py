"""Congruence: the same seeded data and calls on SQLite and on PostgreSQL give the same answers.

Random items (random metadata of every JSON type, edge numbers, byte-order-sensitive strings,
exact duplicate vectors for ties) go into both backends; then many random searches with
random filters, limits and metrics run on both. The id lists must be identical (a swap is
allowed only between items whose distances differ by less than 1e-6), distances equal to
float64 rounding, metadata and text identical. Independently of ranking, the set of items a
filter selects must also equal the pure-Python reference's (``reference_filter``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection, Match

from .pg_server import url_for
from .reference_filter import matches

TENANT = "congruence"
DIMS = 6
N_ITEMS = 300
N_SEARCHES = 120
BIG = 100_000

KEYS = ["a", "b", "n", "s", "flag", "x.y", "text", "id"]
SCALARS: list[Any] = [
    *(0, 1, -1, 2, 3, 12, 12.0, 12.5, -0.0, 0.1, 1e-300, 1e300, 2.0**60),
    *(2**53, 2**53 + 1, float(2**53), 2**60 + 14, 2**63 - 1, -(2**63)),
    *("", "a", "A", "b", "ab", "Z", "é", "e\u0301", "日本", "true", "12", " a", "a b"),
    *(True, False),
]
COMPOSITES: list[Any] = [None, [], ["a"], [1, 2], {}, {"a": 1}]
RANGE_OPERANDS = [v for v in SCALARS if not isinstance(v, bool)]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[nighdb.Store, nighdb.Store]]:
    lite = nighdb.open_store(f"sqlite:///{tmp_path / 'congruence.db'}")
    pg = nighdb.open_store(url_for(tmp_path))
    yield lite, pg
    lite.close()
    pg.close()


def random_metadata(rng: np.random.Generator) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in KEYS:
        roll = rng.random()
        if roll < 0.3:
            continue  # absent
        pool = COMPOSITES if roll < 0.4 else SCALARS
        meta[key] = pool[int(rng.integers(len(pool)))]
    return meta


def random_items(rng: np.random.Generator) -> list[dict[str, Any]]:
    items = []
    base = rng.normal(size=(N_ITEMS, DIMS)).astype(np.float32)
    for i in range(N_ITEMS):
        # Every tenth vector repeats an earlier one exactly: ties broken by id.
        vector = base[i // 2] if i % 10 == 0 else base[i]
        item_id = ["doc", "Doc", "döc", "10", "9", "a b"][i % 6] + f"-{i}"
        items.append(
            {
                "id": item_id,
                "vector": vector.tolist(),
                "metadata": random_metadata(rng),
                "text": f"text of {item_id}",
            }
        )
    return items


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


def assert_congruent(lite: list[Match], pg: list[Match]) -> None:
    assert len(lite) == len(pg)
    for a, b in zip(lite, pg, strict=True):
        assert a.distance == pytest.approx(b.distance, rel=1e-9, abs=1e-12)
        if a.id != b.id:  # only a near-tie may be ordered differently
            assert abs(a.distance - b.distance) < 1e-6, (a, b)
        else:
            assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12)
            # json.dumps tells 12 from 12.0 and -0.0 from 0.0, which == does not.
            assert json.dumps(a.metadata) == json.dumps(b.metadata)
            assert a.text == b.text


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_sqlite_and_postgres_agree(stores: tuple[nighdb.Store, nighdb.Store], metric: str) -> None:
    lite, pg = stores
    rng = np.random.default_rng({"cosine": 1, "l2": 2, "ip": 3}[metric])
    items = random_items(rng)
    for store in (lite, pg):
        store.ensure_collection(TENANT, Collection("c", DIMS, "m", metric))
        assert store.upsert(TENANT, "c", items) == N_ITEMS
    by_id = {item["id"]: item for item in items}
    assert sorted(lite.list_ids(TENANT, "c")) == sorted(pg.list_ids(TENANT, "c"))
    assert lite.list_ids(TENANT, "c", after="Doc", limit=50) == pg.list_ids(
        TENANT, "c", after="Doc", limit=50
    )

    for _ in range(N_SEARCHES):
        query = rng.normal(size=DIMS).astype(np.float32)
        spec = random_filter(rng) if rng.random() < 0.8 else None
        limit = [1, 3, 10, 40, BIG][int(rng.integers(5))]
        got_lite = lite.search(TENANT, "c", query, limit=limit, filter=spec)
        got_pg = pg.search(TENANT, "c", query, limit=limit, filter=spec)
        assert_congruent(got_lite, got_pg)
        # The selected set, independent of ranking, against the reference reading of the contract.
        everything = pg.search(TENANT, "c", query, limit=BIG, filter=spec)
        expected = {i for i, item in by_id.items() if matches(spec, i, item["metadata"])}
        assert {m.id for m in everything} == expected, spec
        assert len(got_pg) == min(limit, len(expected))

    queries = rng.normal(size=(7, DIMS)).astype(np.float32)
    spec = {"$or": [{"a": {"gte": 0}}, {"s": {"lt": "b"}}]}
    for a, b in zip(
        lite.search_many(TENANT, "c", queries, limit=5, filter=spec),
        pg.search_many(TENANT, "c", queries, limit=5, filter=spec),
        strict=True,
    ):
        assert_congruent(a, b)
