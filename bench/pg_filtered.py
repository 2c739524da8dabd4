"""Operations by filter on PostgreSQL: how much a selective equality filter saves.

``python -m bench.pg_filtered [--rows 100000] [--dims 384] [--seconds 3] [--pg-url URL]``
loads ``rows`` seeded unit vectors into a nighdb PostgreSQL store (an embedded server unless
``--pg-url``) with metadata ``b`` (a seeded permutation of the rows modulo 100) and ``c``
(modulo 1,000), then times each operation unfiltered and under three filters:

* ``eq 1%``: ``{"b": 42}``; ``in 1%``: ``{"c": [0, …, 9]}``; ``in 10%``: ``{"b": [0, …, 9]}``

for ``count``, the first ``scroll`` page (100 items), a whole ``scroll`` walk (pages of
1,000), ``list_ids`` (every matching id) and an exact ``search`` (top 10). The baseline is
what an application writes without a filter: the same call over the whole collection. Each
filtered figure is then measured again with the GIN index on ``metadata`` dropped (what a
version-1 store did: the same statements, a sequential scan), so the index's share shows.
Last, the index's price: the ingest rate of a fifth as many items with and without it.

Each figure is the median of repeated calls within ``--seconds`` (at least 3 calls). The
machine is shared: compare ratios from one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import psycopg

import nighdb
from nighdb import Collection

from .pgserver import BenchServer

T, C = "bench", "items"
FILTERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "eq 1%": {"b": 42},
    "in 1%": {"c": list(range(10))},
    "in 10%": {"b": list(range(10))},
}


def _load(store: nighdb.Store, rows: int, dims: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(11)
    b = rng.permutation(rows) % 100
    c = rng.permutation(rows) % 1000
    store.ensure_collection(T, Collection(C, dims, "random", "cosine"))
    batch = 10_000
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        vectors = rng.standard_normal((n, dims), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.upsert(
            T,
            C,
            [
                {
                    "id": f"doc-{start + i:07d}",
                    "vector": vectors[i],
                    "metadata": {"b": int(b[start + i]), "c": int(c[start + i])},
                }
                for i in range(n)
            ],
        )
    return rng.standard_normal((8, dims), dtype=np.float32)


def _median_ms(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm: caches, the pool's connection
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < deadline:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= 200:
            break
    return statistics.median(times) * 1000


def _walk(store: nighdb.Store, filter: dict[str, Any] | None) -> int:
    seen, after = 0, ""
    while page := store.scroll(T, C, filter=filter, after=after or None, limit=1000):
        seen += len(page)
        after = page[-1].id
    return seen


def _operations(
    store: nighdb.Store, queries: np.ndarray[Any, Any]
) -> dict[str, Callable[[dict[str, Any] | None], object]]:
    turn = iter(range(10**9))
    return {
        "count": lambda f: store.count(T, C, filter=f),
        "scroll first page (100)": lambda f: store.scroll(T, C, filter=f, limit=100),
        "scroll walk (pages of 1,000)": lambda f: _walk(store, f),
        "list_ids (all)": lambda f: store.list_ids(T, C, filter=f),
        "exact search (top 10)": lambda f: store.search(
            T, C, queries[next(turn) % len(queries)], limit=10, filter=f
        ),
    }


def _drop_gin(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        names = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'nigh_items_%%_meta'"
        ).fetchall()
        for (name,) in names:
            conn.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(name)))
        conn.execute("ANALYZE")


def _ingest_rate(url: str, name: str, rows: int, dims: int, *, gin: bool) -> float:
    """Items per second of ``rows`` upserts in batches of 1,000 into a new collection, with
    or without the GIN index (its upkeep is the price of the filtered speed-ups)."""
    rng = np.random.default_rng(5)
    with nighdb.open_store(url) as store:
        store.ensure_collection(T, Collection(name, dims, "random", "cosine"))
        if not gin:
            _drop_gin(url)
        t = time.perf_counter()
        for start in range(0, rows, 1000):
            vectors = rng.standard_normal((1000, dims), dtype=np.float32)
            store.upsert(
                T,
                name,
                [
                    {"id": f"i-{start + i}", "vector": vectors[i], "metadata": {"b": i % 100}}
                    for i in range(1000)
                ],
            )
        elapsed = time.perf_counter() - t
        store.drop_collection(T, name)
    return rows / elapsed


def run(url: str, rows: int, dims: int, seconds: float) -> dict[str, dict[str, float]]:
    """Median milliseconds: ``{operation: {filter (and "<filter> no GIN"): ms}}``."""
    out: dict[str, dict[str, float]] = {}
    with nighdb.open_store(url) as store:
        t = time.perf_counter()
        queries = _load(store, rows, dims)
        print(f"loaded {rows:,} x {dims} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        ops = _operations(store, queries)
        for op, call in ops.items():
            out[op] = {name: _median_ms(partial(call, f), seconds) for name, f in FILTERS.items()}
            print(op, {k: round(v, 2) for k, v in out[op].items()}, file=sys.stderr)
        _drop_gin(url)
        for op, call in ops.items():
            for name, f in FILTERS.items():
                if f is not None:
                    out[op][f"{name} no GIN"] = _median_ms(partial(call, f), seconds)
            print(op, "no GIN done", file=sys.stderr)
    ingest = max(1000, rows // 5)
    out["ingest (items/s)"] = {
        "none": _ingest_rate(url, "plain", ingest, dims, gin=False),
        "gin": _ingest_rate(url, "gin", ingest, dims, gin=True),
    }
    return out


def render(results: dict[str, dict[str, float]], rows: int, dims: int) -> str:
    """A markdown table: milliseconds, and the speed-up over the unfiltered call."""
    names = [n for n in FILTERS if n != "none"]
    head = "| operation | unfiltered | " + " | ".join(
        f"{n} (x unfiltered) | {n} without GIN" for n in names
    )
    lines = [
        f"{rows:,} x {dims}, median ms (speed-up over the unfiltered call)",
        "",
        head + " |",
        "|---" * (2 + 2 * len(names)) + "|",
    ]
    for op, figures in results.items():
        if op == "ingest (items/s)":
            continue
        base = figures["none"]
        cells = [op, f"{base:.1f}"]
        for n in names:
            cells.append(f"{figures[n]:.2f} ({base / figures[n]:.1f}x)")
            cells.append(f"{figures[n + ' no GIN']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    rates = results["ingest (items/s)"]
    lines += [
        "",
        f"ingest, batches of 1,000: {rates['gin']:,.0f} items/s with the GIN index, "
        f"{rates['none']:,.0f} without ({rates['gin'] / rates['none']:.2f}x)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per figure")
    parser.add_argument("--pg-url", help="a server to use (default: an embedded one)")
    args = parser.parse_args(argv)
    server = BenchServer(args.pg_url)
    try:
        results = run(server.url, args.rows, args.dims, args.seconds)
    finally:
        server.close()
    print(render(results, args.rows, args.dims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
