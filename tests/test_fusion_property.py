"""``nighdb.fusion`` with a rank oracle against the pure reference (``reference_text.rrf``):
random vector orders with tied distances, random text rankings, limits and weights, on
collections larger than the first vector depth, so the oracle path is the one that answers.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from nighdb.fusion import fuse, rank_candidates
from nighdb.text import TextRanking

from .reference_text import rrf


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(300, 900),
    texts=st.integers(0, 400),
    limit=st.integers(1, 60),
    weight=st.sampled_from([0.0, 0.1, 0.5, 0.7, 0.95, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_fusion_with_ranks_is_reciprocal_rank_fusion(
    size: int, texts: int, limit: int, weight: float, seed: int
) -> None:
    rng = random.Random(seed)
    ids = [f"i{n:04d}" for n in range(size)]
    # Few distinct distances: many ties, which the ids must decide.
    distance = {i: float(rng.randrange(size // 4)) for i in ids}
    vector_order = sorted(ids, key=lambda i: (distance[i], i))
    text_order = rng.sample(ids, min(texts, size))
    asked: list[list[str]] = []

    def vector_top(depth: int) -> list[tuple[float, str]]:
        return [(distance[i], i) for i in vector_order[:depth]]

    def vector_ranks(wanted: list[str]) -> dict[str, tuple[int, float]]:
        asked.append(wanted)
        return {i: (vector_order.index(i) + 1, distance[i]) for i in wanted}

    ranking = TextRanking(text_order, [float(len(text_order) - n) for n in range(len(text_order))])
    got = fuse(ranking, vector_top, limit, weight, vector_ranks)
    want = rrf(vector_order, text_order, weight)[:limit]
    assert [(h.id, h.score) for h in got] == want
    assert [h.distance for h in got] == [distance[h.id] for h in got]
    assert len(asked) <= 1  # one call to the oracle at most
    # What a streamed backend ranks ahead of fusion covers whatever fusion asks.
    assert {i for ids in asked for i in ids} <= set(rank_candidates(ranking, limit, weight))
