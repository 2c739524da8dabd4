"""Time the filter hot paths: a filtered search and the compilation of a large filter.

``python -m bench.filters [--rows 15000] [--dims 384] [--repeat 300]`` prints, on an embedded
SQLite store of random vectors:

* the p50 of a warm ``search`` under a 3-predicate filter (numpy masks over cached columns),
  of the same filter with an int64 operand past 2**53 (the columnar evaluator answers
  "cannot decide exactly" and SQL decides), and of an unfiltered search for scale;
* the p50 of compiling a 100-predicate filter to SQLite SQL, to PostgreSQL SQL (when psycopg
  is installed), and of evaluating it as numpy masks.

Numbers are for before/after comparisons of a change on one machine, not absolute claims.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import nighdb
from nighdb import Collection
from nighdb.backends.sqlite.columnar import FieldColumn, evaluate
from nighdb.backends.sqlite.filter import compile_filter
from nighdb.filters import parse_filter

FILTER: dict[str, Any] = {
    "genre": {"in": ["a", "b", "c"]},
    "year": {"gte": 1990},
    "$not": {"draft": True},
}
INEXACT: dict[str, Any] = {**FILTER, "big": {"lt": 2**60}}


def wide_filter(n: int = 100) -> dict[str, Any]:
    """``n`` predicates of every kind, ANDed and ORed."""
    kinds: list[dict[str, Any]] = []
    for i in range(n):
        field = f"f{i % 7}"
        match i % 5:
            case 0:
                kinds.append({field: {"gte": i}})
            case 1:
                kinds.append({field: f"s{i}"})
            case 2:
                kinds.append({field: {"ne": True}})
            case 3:
                kinds.append({"id": {"lt": f"doc{i}"}})
            case _:
                kinds.append({field: {"exists": True}})
    return {"$or": [{"$and": kinds[i : i + 10]} for i in range(0, n, 10)]}


def p50_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=15_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((args.rows, args.dims), dtype=np.float32)
    query = rng.standard_normal(args.dims, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp, nighdb.open_store(str(Path(tmp) / "b.db")) as store:
        store.ensure_collection("t", Collection("c", args.dims, "random", "cosine"))
        items = [
            {
                "id": f"doc{i}",
                "vector": vectors[i],
                "metadata": {
                    "genre": "abcdefghij"[i % 10],
                    "year": 1950 + i % 70,
                    "draft": i % 3 == 0,
                    "big": i,
                },
            }
            for i in range(args.rows)
        ]
        for start in range(0, len(items), 2000):
            store.upsert("t", "c", items[start : start + 2000])
        hits = len(store.search("t", "c", query, limit=10, filter=FILTER))
        print(f"{args.rows} x {args.dims}, {hits} hits, p50 of {args.repeat}:")
        for name, flt in (("unfiltered", None), ("filtered", FILTER), ("inexact", INEXACT)):
            ms = p50_ms(
                lambda f=flt: store.search("t", "c", query, limit=10, filter=f), args.repeat
            )
            print(f"  search {name:<12} {ms:8.3f} ms")

    tree = parse_filter(wide_filter())
    assert tree is not None
    repeat = args.repeat * 3
    print(f"100-predicate filter, p50 of {repeat}:")
    print(f"  compile sqlite     {p50_ms(lambda: compile_filter(tree), repeat) * 1000:8.1f} us")
    try:
        from nighdb.backends.postgres.filter import compile_filter as compile_pg
    except ImportError:
        pass
    else:
        print(f"  compile postgres   {p50_ms(lambda: compile_pg(tree), repeat) * 1000:8.1f} us")
    n = args.rows
    columns = {
        f"f{j}": FieldColumn.from_values([i if i % 2 else f"s{i}" for i in range(n)])
        for j in range(7)
    }
    columns["id"] = FieldColumn.from_strings([f"doc{i}" for i in range(n)])
    ms = p50_ms(lambda: evaluate(tree, columns.__getitem__, n), args.repeat)
    print(f"  numpy masks        {ms * 1000:8.1f} us ({n} rows)")


if __name__ == "__main__":
    main()
