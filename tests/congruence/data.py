"""The congruence suite's seeded data: every backend variant gets the same collections and items.

A few hundred items per metric, with metadata of every JSON type (integers beyond 2**53, float
edge values, unicode strings, booleans, nulls, arrays, nested objects), ids with unicode, quotes
and slashes, and exact duplicate vectors for ties; ``REFERENCE`` names the backend every other
variant is compared with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import nighdb
from nighdb import Collection

from ..conftest import BACKENDS

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
