"""Hybrid ranking: reciprocal rank fusion of a vector and a text ranking (contract §14).

fused = (1 - w)/(60 + rank_vector) + w/(60 + rank_text), ranks from 1 over the items that
pass the filter; an item missing from the text ranking (no query term) gets 0 from it.

The definition ranks *every* item, but no backend should rank a whole collection by vector
for each hybrid search. The text ranking is complete (postings are exact and cheap); the
vector ranking is read to a depth ``D`` (a few times ``limit``), and read whole only if an
item below ``D`` could still reach the top ``limit``: such an item scores at most ``(1 - w)/
(60 + D + 1) + w/(60 + r)``, with ``r`` the best text rank among the items not yet seen by
vector. Once the ``limit``-th best fully known item scores more than that bound, the known
top is the exact answer (a tie at the bound reads on, since ids then decide). Every backend
runs this same code over its own exact vector search, so the fused order is the same
everywhere.

A backend that can tell the exact vector rank of given items without ordering the rest
(``VectorRanks``: 1 + the items that pass the filter and come before it by (distance, id))
never reads the whole ranking: with the first ``D`` vector items known, the ``limit``-th
best known score ``s`` is a floor for the answer's ``limit``-th score; an item outside the
first ``D`` with text rank ``r`` scores at most ``(1 - w)/(60 + D + 1) + w/(60 + r)``, so
only the text items whose bound reaches ``s`` need their vector rank: one call, after which
every item left out scores strictly below ``s``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .text import TextRanking

__all__ = ["RRF_K", "FusedHit", "fuse", "fused_score", "rank_candidates", "ranked_depth"]

RRF_K = 60
# The first vector depth read, as a multiple of the limit (deepened 4x at a time).
_FIRST_DEPTH = 4
_MIN_DEPTH = 64
_COMPLETE = 2**62
# The vector depth read when ranks are available: deep enough that an item below it needs a
# high text rank to matter, so few text items need their rank (measured in bench/text.py).
_RANKED_DEPTH = 4
_MIN_RANKED_DEPTH = 256  # "every item": no collection is larger

VectorTop = Callable[[int], list[tuple[float, str]]]
"""``depth`` -> the first ``depth`` items of the exact vector ranking as (distance, id),
in order; fewer than ``depth`` means the ranking is complete."""

VectorRanks = Callable[[list[str]], dict[str, tuple[int, float]] | None]
"""ids (all passing the filter) -> each one's exact vector (rank, distance); None when the
backend cannot tell them cheaply this time (the caller then reads the ranking instead)."""


@dataclass(frozen=True)
class FusedHit:
    id: str
    score: float
    distance: float


def fused_score(weight: float, vector_rank: int, text_rank: int | None) -> float:
    """The contract's formula, in one float64 order for every backend."""
    score = (1.0 - weight) / (RRF_K + vector_rank)
    if text_rank is not None:
        score += weight / (RRF_K + text_rank)
    return score


def ranked_depth(limit: int) -> int:
    """The first vector depth ``fuse`` reads when the backend tells ranks."""
    return max(_RANKED_DEPTH * limit, _MIN_RANKED_DEPTH)


def rank_candidates(text: TextRanking, limit: int, weight: float) -> list[str]:
    """Before any vector is read: every text item whose vector rank ``fuse`` may ask for
    (a superset), so a backend that must read every vector anyway can count their ranks
    in the same pass. ``fuse`` asks only for items whose bound reaches the ``limit``-th
    score among the first vector items, and that score is at least ``(1 - w)/(60 +
    limit)``, the least the ``limit``-th vector item can score."""
    depth, floor = ranked_depth(limit), fused_score(weight, limit, None)
    wanted = []
    for rank, item_id in enumerate(text.ids, start=1):
        if not fused_score(weight, depth + 1, rank) >= floor:
            break
        wanted.append(item_id)
    return wanted


def fuse(
    text: TextRanking,
    vector_top: VectorTop,
    limit: int,
    weight: float,
    vector_ranks: VectorRanks | None = None,
) -> list[FusedHit]:
    """The exact top ``limit`` of the fused ranking (``limit`` ≥ 1)."""
    text_rank = {item_id: rank for rank, item_id in enumerate(text.ids, start=1)}
    if vector_ranks is not None:
        found = _fuse_with_ranks(text, text_rank, vector_top, vector_ranks, limit, weight)
        if found is not None:
            return found
    depth = max(_FIRST_DEPTH * limit, _MIN_DEPTH)
    while True:
        ranked = vector_top(depth)
        complete = len(ranked) < depth
        known = sorted(
            (
                (-fused_score(weight, rank, text_rank.get(item_id)), item_id, distance)
                for rank, (distance, item_id) in enumerate(ranked, start=1)
            )
        )
        top = known[:limit]
        if complete or _settled(top, limit, text, ranked, depth, weight):
            return [FusedHit(item_id, -neg, distance) for neg, item_id, distance in top]
        # Not settled at the first depth means a top text item lies deep in the vector
        # ranking (the rankings disagree); deepening step by step then cost more than
        # reading the whole ranking at once (measured in bench/text.py).
        depth = _COMPLETE


def _fuse_with_ranks(
    text: TextRanking,
    text_rank: dict[str, int],
    vector_top: VectorTop,
    vector_ranks: VectorRanks,
    limit: int,
    weight: float,
) -> list[FusedHit] | None:
    """The exact top from the first vector items and the ranks of the text items that can
    still reach it; None when this cannot decide (the caller reads the ranking)."""
    depth = ranked_depth(limit)
    ranked = vector_top(depth)
    if len(ranked) < depth:
        return None  # the whole ranking is already read: the plain path costs nothing more
    known = {item_id: (rank, distance) for rank, (distance, item_id) in enumerate(ranked, 1)}
    floor = _limit_th(known, text_rank, limit, weight)
    outside = fused_score(weight, depth + 1, None)  # any item in neither list
    if not outside < floor:
        return None  # weight 1: items without text tie at 0 and ids decide
    needed = []
    for rank, item_id in enumerate(text.ids, start=1):
        if not fused_score(weight, depth + 1, rank) >= floor:
            break  # text ranks only grow: no later item can reach the floor
        if item_id not in known:
            needed.append(item_id)
    if needed:
        ranks = vector_ranks(needed)
        if ranks is None:
            return None
        known.update(ranks)
    top = sorted(
        (-fused_score(weight, rank, text_rank.get(item_id)), item_id, distance)
        for item_id, (rank, distance) in known.items()
    )[:limit]
    return [FusedHit(item_id, -neg, distance) for neg, item_id, distance in top]


def _limit_th(
    known: dict[str, tuple[int, float]], text_rank: dict[str, int], limit: int, weight: float
) -> float:
    scores = sorted(
        (fused_score(weight, rank, text_rank.get(item_id)) for item_id, (rank, _) in known.items()),
        reverse=True,
    )
    return scores[limit - 1]


def _settled(
    top: list[tuple[float, str, float]],
    limit: int,
    text: TextRanking,
    ranked: list[tuple[float, str]],
    depth: int,
    weight: float,
) -> bool:
    """Whether no item below ``depth`` in the vector ranking can enter ``top``."""
    if len(top) < limit:
        return False
    seen = {item_id for _, item_id in ranked}
    best_unseen_text = next(
        (rank for rank, item_id in enumerate(text.ids, start=1) if item_id not in seen), None
    )
    bound = fused_score(weight, depth + 1, best_unseen_text)
    return -top[-1][0] > bound
