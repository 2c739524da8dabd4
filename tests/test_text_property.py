"""Property tests of text and hybrid search (contract §14) against ``reference_text``, on
every backend: random corpora (words with case and compatibility forms, empty texts),
queries, filters and weights; then random writes (upserts over existing ids, updates of the
text, deletes by ids and by filter) and the same comparisons again, so the postings are
shown to stay exact.

``NIGH_TEXT_EXAMPLES`` scales it (default 12 per backend: the suite's time budget).
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nighdb
from nighdb import Collection

from .reference_text import bm25, rrf

TENANT = "textprop"
EXAMPLES = int(os.environ.get("NIGH_TEXT_EXAMPLES", "12"))
IDS = [f"d{i:02d}" for i in range(30)]
WORDS = [
    "apple",
    "Apple",
    "APPLE",
    "ﬁg",
    "fig",
    "kiwi",
    "Kiwi's",
    "lime",
    "2024",
    "ß",
    "ss",
    "date",
]
_rng = np.random.default_rng(7)
VECTORS = _rng.normal(size=(len(IDS), 3)).round(3) + np.array([3.0, 0.0, 0.0])

texts = st.lists(st.sampled_from(WORDS), max_size=7).map(" ".join)
filters = st.sampled_from([None, {"g": 0}, {"g": {"in": [1, 2]}}, {"g": {"gt": 5}}])
weights = st.sampled_from([0.0, 0.25, 0.5, 0.8, 1.0])
_collections = itertools.count()


def _compare(
    store: nighdb.Store,
    name: str,
    corpus: dict[str, str],
    groups: dict[str, int],
    query: str,
    flt: dict[str, Any] | None,
    weight: float,
    limit: int,
) -> None:
    def passes(item_id: str) -> bool:
        if flt is None:
            return True
        ((_key, cond),) = flt.items()
        g = groups[item_id]
        if isinstance(cond, dict):
            return g in cond["in"] if "in" in cond else g > cond["gt"]
        return bool(g == cond)

    want_text = bm25(corpus, query, passes)
    got = store.search(TENANT, name, text=query, limit=limit, filter=flt)
    _assert_same_ranking([(m.id, m.score) for m in got], want_text, limit)
    # The whole text ranking, as the backend ordered it: the one the fusion must use.
    ranking = store.search(TENANT, name, text=query, limit=len(IDS), filter=flt)
    _assert_same_ranking([(m.id, m.score) for m in ranking], want_text, len(IDS))

    vector = [3.0, 0.5, -0.5]
    every = store.search(TENANT, name, vector, limit=len(IDS), filter=flt)
    want = rrf([m.id for m in every], [m.id for m in ranking], weight)[:limit]
    got = store.search(
        TENANT, name, vector, text=query, limit=limit, filter=flt, text_weight=weight
    )
    assert [m.id for m in got] == [i for i, _ in want]
    assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)


def _tie_runs(ranking: list[tuple[str, float]]) -> list[list[tuple[str, float]]]:
    """Consecutive entries whose scores are equal within 1e-9 relative: mathematically tied
    scores can be computed as floats an ulp apart, in either order (the reference sums in
    another order than ``nighdb.text``), so within a run the order is the floats', not ids'."""
    runs: list[list[tuple[str, float]]] = []
    for entry in ranking:
        if runs and entry[1] == pytest.approx(runs[-1][-1][1], rel=1e-9):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


def _assert_same_ranking(
    got: list[tuple[str, float]], want: list[tuple[str, float]], limit: int
) -> None:
    """``got`` is the reference's top ``limit``, any order within a run of tied scores."""
    assert [s for _, s in got] == pytest.approx([s for _, s in want][:limit], rel=1e-9)
    at = 0
    for run in _tie_runs(want):
        if at >= len(got):
            break
        taken = got[at : at + len(run)]
        assert {i for i, _ in taken} <= {i for i, _ in run}
        at += len(taken)
    assert at == len(got) == min(limit, len(want))


# Two items of one query term whose scores are equal as real numbers (tf 1 at length 1 and
# tf 3 at length 6, the average length 4.5): the reference and nighdb.text compute them an
# ulp apart, in opposite orders.
_TIED = ["apple", "apple apple apple ﬁg ﬁg ﬁg", "kiwi kiwi kiwi kiwi kiwi", "lime " * 5 + "lime"]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    corpus=st.lists(texts, min_size=1, max_size=len(IDS)),
    rewrites=st.lists(st.tuples(st.integers(0, len(IDS) - 1), texts), max_size=6),
    deletes=st.lists(st.integers(0, len(IDS) - 1), max_size=4),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
    flt=filters,
    weight=weights,
    limit=st.integers(1, 12),
)
@example(corpus=_TIED, rewrites=[], deletes=[], query="apple", flt=None, weight=0.5, limit=1)
def test_text_and_hybrid_match_the_reference(
    store: nighdb.Store,
    corpus: list[str],
    rewrites: list[tuple[int, str]],
    deletes: list[int],
    query: str,
    flt: dict[str, Any] | None,
    weight: float,
    limit: int,
) -> None:
    name = f"t{next(_collections)}"
    store.ensure_collection(TENANT, Collection(name, 3))
    try:
        texts_now = {IDS[i]: t for i, t in enumerate(corpus)}
        groups = {IDS[i]: i % 10 for i in range(len(IDS))}
        store.upsert(
            TENANT,
            name,
            [
                {"id": IDS[i], "vector": VECTORS[i].tolist(), "metadata": {"g": i % 10}, "text": t}
                for i, t in enumerate(corpus)
            ],
        )
        _compare(store, name, texts_now, groups, query, flt, weight, limit)
        for n, (i, text) in enumerate(rewrites):
            if n % 2 and IDS[i] in texts_now:
                store.update(TENANT, name, [{"id": IDS[i], "text": text}])
            else:
                item = {"id": IDS[i], "vector": VECTORS[i].tolist(), "metadata": {"g": i % 10}}
                store.upsert(TENANT, name, [{**item, "text": text}])
            texts_now[IDS[i]] = text
        for n, i in enumerate(deletes):
            if n % 2:
                store.delete(TENANT, name, [IDS[i]])
                texts_now.pop(IDS[i], None)
            else:
                store.delete(TENANT, name, filter={"g": i % 10, "id": {"gte": IDS[i]}})
                for item_id in [k for k in texts_now if groups[k] == i % 10 and k >= IDS[i]]:
                    del texts_now[item_id]
        if texts_now:
            _compare(store, name, texts_now, groups, query, flt, weight, limit)
    finally:
        store.drop_collection(TENANT, name)
