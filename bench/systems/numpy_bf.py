"""numpy brute force over an in-memory float32 matrix: the memory-bandwidth limit for an
exact scan. One BLAS product per query (``X @ q``; the vectors are unit length, so the dot
product is the cosine), ``argpartition`` for the top ``k``; a filter is a mask computed per
query from an in-memory column, then the same scan over the matching rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..datasets import FilterSpec
from ..measure import run_searches
from .base import Context

F32 = npt.NDArray[np.float32]


def _top(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    k = min(k, scores.shape[0])
    part = np.argpartition(-scores, k - 1)[:k]
    out: npt.NDArray[np.intp] = part[np.argsort(-scores[part], kind="stable")]
    return out


class NumpySearcher:
    def __init__(self, ctx: Context) -> None:
        self.x: F32 = ctx.ds.base(mmap=False)
        self.columns = {f: ctx.ds.column(f) for f in ctx.ds.fields}

    def search(self, query: F32, k: int, flt: FilterSpec | None) -> Sequence[int]:
        if flt is None:
            return _top(self.x @ query, k).tolist()  # type: ignore[no-any-return]
        rows = np.flatnonzero(flt.mask(self.columns[flt.field]))
        if not len(rows):
            return []
        return rows[_top(self.x[rows] @ query, k)].tolist()  # type: ignore[no-any-return]

    def search_many(self, queries: F32, k: int) -> list[Sequence[int]] | None:
        scores = self.x @ queries.T  # (rows, queries)
        part = np.argpartition(-scores, k - 1, axis=0)[:k]
        out: list[Sequence[int]] = []
        for j in range(queries.shape[0]):
            cand = part[:, j]
            out.append(cand[np.argsort(-scores[cand, j], kind="stable")].tolist())
        return out


class NumpySystem:
    key = "numpy"
    label = "numpy brute force (in memory)"
    needs_postgres = False

    def phases(self, ctx: Context) -> list[str]:
        return ["search"]

    def run(self, phase: str, ctx: Context) -> dict[str, Any]:
        searcher = NumpySearcher(ctx)
        only = ctx.latency_only
        result = run_searches(
            searcher, ctx.ds, ctx.budget, filters=not only, many=not only, log=ctx.log
        )
        return {"variants": {"exact": result}}
