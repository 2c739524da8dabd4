"""The measuring protocol every system goes through, so the numbers are comparable.

Search (top ``K``, warm, one query at a time): the first query is timed on its own (it
pays for loading caches), a few more warm up, then queries run one after another until
``max_queries`` or until the time budget is spent (at least ``min_queries``). Latencies are
wall-clock around the call, including building the result in Python. Recall@10 is
measured on the same queries against the float64 ground truth. ``search_many`` runs the
first 100 queries in one call (best of a few repetitions) and is compared with the same
system's single-query throughput. Each filter gets the same single-query treatment plus
the ``min(limit, matches)`` check.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .datasets import Dataset, FilterSpec, K

__all__ = ["Budget", "Searcher", "peak_rss_mb", "recall_at_k", "run_paired", "run_searches"]

F32 = npt.NDArray[np.float32]

MANY = 100
"""Queries per ``search_many`` call."""


class Searcher(Protocol):
    """What the protocol needs from a system: rows of the top ``k`` (best first)."""

    def search(self, query: F32, k: int, flt: FilterSpec | None) -> Sequence[int]: ...

    def search_many(self, queries: F32, k: int) -> list[Sequence[int]] | None:
        """Several queries in one call; None when the system has no such call."""
        ...


@dataclass(frozen=True)
class Budget:
    max_queries: int = 200
    min_queries: int = 20
    seconds: float = 8.0
    many_repeats: int = 3


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB (10**6 bytes).

    Linux's ``VmHWM`` (the high-water mark of this process image). ``ru_maxrss`` would
    overstate it: Linux carries the parent's peak across ``fork``/``exec`` into the child's
    ``RUSAGE_SELF``, so every child of a big parent would report the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def recall_at_k(found: Sequence[Sequence[int]], truth: npt.NDArray[np.int32]) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (truth rows padded with -1)."""
    scores = []
    for got, want in zip(found, truth, strict=False):
        valid = {int(w) for w in want if w >= 0}
        if valid:
            scores.append(len(valid & {int(g) for g in got[:K]}) / len(valid))
    return float(np.mean(scores)) if scores else float("nan")


def _timed_singles(
    fn: Callable[[F32], Sequence[int]], queries: F32, budget: Budget
) -> tuple[list[float], list[Sequence[int]]]:
    latencies: list[float] = []
    results: list[Sequence[int]] = []
    started = time.perf_counter()
    for i in range(min(budget.max_queries, queries.shape[0])):
        if i >= budget.min_queries and time.perf_counter() - started > budget.seconds:
            break
        t = time.perf_counter()
        out = fn(queries[i])
        latencies.append(time.perf_counter() - t)
        results.append(list(out))
    return latencies, results


def _stats(latencies: list[float]) -> dict[str, float]:
    ms = np.array(latencies) * 1000.0
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "n": len(latencies),
    }


def run_searches(
    searcher: Searcher,
    ds: Dataset,
    budget: Budget,
    *,
    filters: bool = True,
    many: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The whole protocol for one system configuration; a flat dict of measurements."""
    queries = ds.query_vectors()
    out: dict[str, Any] = {}

    t = time.perf_counter()
    searcher.search(queries[0], K, None)
    out["first_ms"] = (time.perf_counter() - t) * 1000.0
    for i in range(1, 4):
        searcher.search(queries[i % len(queries)], K, None)

    latencies, found = _timed_singles(lambda q: searcher.search(q, K, None), queries, budget)
    out.update(_stats(latencies))
    out["recall"] = recall_at_k(found, ds.truth("all"))
    out["single_qps"] = 1.0 / statistics.fmean(latencies)
    log(f"    unfiltered p50 {out['p50_ms']:.2f} ms, recall {out['recall']:.4f} (n={len(found)})")

    if many:
        batch = queries[:MANY]
        first = searcher.search_many(batch, K)
        if first is not None:
            times = []
            for _ in range(budget.many_repeats):
                t = time.perf_counter()
                searcher.search_many(batch, K)
                times.append(time.perf_counter() - t)
            out["many_s"] = min(times)
            out["many_qps"] = len(batch) / min(times)
            out["many_speedup"] = out["many_qps"] / out["single_qps"]
            out["many_recall"] = recall_at_k(first, ds.truth("all")[: len(batch)])
            log(
                f"    search_many({len(batch)}) {out['many_s'] * 1000:.1f} ms: "
                f"{out['many_qps']:.0f} q/s, {out['many_speedup']:.1f}x singles"
            )

    if filters:
        for spec in ds.filters:
            searcher.search(queries[0], K, spec)  # warm (builds a filter cache, if any)
            lat, res = _timed_singles(partial(searcher.search, k=K, flt=spec), queries, budget)
            expected = min(K, spec.matches)
            stats = _stats(lat)
            stats["recall"] = recall_at_k(res, ds.truth(spec.name))
            stats["count_ok"] = all(len(r) == expected for r in res)
            stats["selectivity"] = spec.selectivity
            out[spec.name] = stats
            log(
                f"    filter {spec.name} ({spec.label()}) p50 {stats['p50_ms']:.2f} ms, "
                f"recall {stats['recall']:.4f}, count ok {stats['count_ok']}"
            )
    out["rss_mb"] = peak_rss_mb()
    return out


def run_paired(
    ours: Searcher, theirs: Searcher, ds: Dataset, budget: Budget, flt: FilterSpec | None = None
) -> dict[str, Any]:
    """Single-query latency of two systems measured alternately, query by query (who goes
    first alternates too), so both see the same machine: their p50 ratio survives noise
    that separate runs would not."""
    queries = ds.query_vectors()
    for q in queries[:3]:
        ours.search(q, K, flt)
        theirs.search(q, K, flt)
    a: list[float] = []
    b: list[float] = []
    started = time.perf_counter()
    for i in range(min(budget.max_queries, queries.shape[0])):
        if i >= budget.min_queries and time.perf_counter() - started > 2 * budget.seconds:
            break
        pair = [(ours, a), (theirs, b)]
        for searcher, sink in pair if i % 2 == 0 else pair[::-1]:
            t = time.perf_counter()
            searcher.search(queries[i], K, flt)
            sink.append(time.perf_counter() - t)
    ours_p50 = float(np.percentile(a, 50)) * 1000.0
    theirs_p50 = float(np.percentile(b, 50)) * 1000.0
    return {
        "n": len(a),
        "ours_p50_ms": ours_p50,
        "theirs_p50_ms": theirs_p50,
        "ratio": ours_p50 / theirs_p50,
    }
