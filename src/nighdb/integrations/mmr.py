"""Maximal marginal relevance over the stored vectors, shared by both framework adapters.

MMR picks results one at a time, each maximising
``lambda * sim(query, doc) - (1 - lambda) * max(sim(doc, already picked))``, so near
duplicates of what is already picked make way for other relevant documents. Similarity is
cosine, whatever the collection's metric, as in LangChain's and LlamaIndex's own helpers:
it is a measure of direction that makes relevance and redundancy comparable.

The candidates are the collection's exact top ``fetch_k`` under the filter; their vectors
come from ``Store.fetch`` (float32, as stored), never from re-embedding their text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidArgumentError

__all__ = ["check_mmr_arguments", "mmr_order"]


def check_mmr_arguments(k: int, fetch_k: int, lambda_mult: float) -> None:
    """``InvalidArgumentError`` for arguments MMR cannot honour, before any work is done."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"k must be an integer >= 1, got {k!r}")
    if isinstance(fetch_k, bool) or not isinstance(fetch_k, int) or fetch_k < 1:
        raise InvalidArgumentError(f"fetch_k must be an integer >= 1, got {fetch_k!r}")
    if not 0.0 <= float(lambda_mult) <= 1.0:
        raise InvalidArgumentError(f"lambda_mult must be between 0 and 1, got {lambda_mult!r}")


def _unit_rows(vectors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A zero vector has no direction: its cosine similarity to anything is taken as 0.
    unit: npt.NDArray[np.float64] = np.divide(
        vectors, norms, out=np.zeros_like(vectors), where=norms > 0
    )
    return unit


def mmr_order(
    query: Sequence[float] | npt.ArrayLike,
    candidates: Sequence[Any],
    *,
    k: int,
    lambda_mult: float,
) -> list[int]:
    """Indexes into ``candidates`` of the (at most ``k``) MMR picks, in the order picked.

    ``lambda_mult`` 1 is plain relevance order, 0 maximal diversity. Ties go to the earlier
    candidate, so with candidates in search order the result is deterministic.
    """
    if len(candidates) == 0 or k < 1:
        return []
    matrix = _unit_rows(np.asarray(candidates, dtype=np.float64).reshape(len(candidates), -1))
    target = _unit_rows(np.asarray(query, dtype=np.float64).reshape(1, -1))[0]
    relevance = matrix @ target
    redundancy = np.full(len(matrix), -np.inf)
    chosen: list[int] = []
    available = np.ones(len(matrix), dtype=bool)
    while len(chosen) < min(k, len(matrix)):
        if chosen:
            scores = lambda_mult * relevance - (1.0 - lambda_mult) * redundancy
        else:
            scores = relevance.copy()
        scores[~available] = -np.inf
        pick = int(np.argmax(scores))  # argmax returns the first of equal scores
        chosen.append(pick)
        available[pick] = False
        redundancy = np.maximum(redundancy, matrix @ matrix[pick])
    return chosen
