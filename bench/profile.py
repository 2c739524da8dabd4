"""Profile one nighdb operation under cProfile: where does the time go?

``python -m bench.profile SCENARIO [--dataset 100k] [--top 25]``, scenarios:

* ``sqlite-ingest``: upsert the data set into a fresh SQLite store;
* ``sqlite-search``, ``sqlite-search-f10``: warm single searches (unfiltered, ~10% filter);
* ``sqlite-streamed``: single searches with a cache budget smaller than the collection;
* ``sqlite-many``: ``search_many`` of 100 queries;
* ``pg-ingest``, ``pg-search``, ``pg-search-f10``, ``pg-hnsw``, ``pg-many``: the same on
  an embedded PostgreSQL (HNSW at ef_search 40).

Uses the cached data sets of ``python -m bench`` (prepared if missing). The report lists
functions by their own time (``tottime``) and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nighdb

from .datasets import Dataset, find_wordnet, prepare_synthetic, prepare_wordnet
from .measure import Budget
from .runner import DEFAULT_OUT, parse_count
from .systems.base import Context
from .systems.nigh_sqlite import TENANT, nigh_ingest

SCENARIOS = (
    "sqlite-ingest",
    "sqlite-search",
    "sqlite-search-f10",
    "sqlite-streamed",
    "sqlite-many",
    "pg-ingest",
    "pg-search",
    "pg-search-f10",
    "pg-hnsw",
    "pg-many",
)


def _dataset(name: str) -> Dataset:
    cache = DEFAULT_OUT / "cache"
    if name == "wordnet":
        return prepare_wordnet(cache, find_wordnet(None), print)
    return prepare_synthetic(cache, parse_count(name), 384, print)


def _profiled(label: str, fn: Callable[[], Any], top: int) -> None:
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    print(f"\n== {label}: {time.perf_counter() - t:.3f} s under the profiler\n")
    stats = pstats.Stats(prof, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("--dataset", default="100k")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    ds = _dataset(args.dataset)
    queries = ds.query_vectors()[: args.queries]
    backend, _, what = args.scenario.partition("-")
    with tempfile.TemporaryDirectory(prefix="nigh-profile-") as tmp:
        server = None
        if backend == "pg":
            from .pgserver import BenchServer

            server = BenchServer()
            url = server.url
        else:
            url = str(Path(tmp) / "nigh.db")
        ctx = Context(ds=ds, workdir=Path(tmp), pg_url=url, budget=Budget())
        try:
            if what == "ingest":
                with nighdb.open_store(url) as store:
                    _profiled(args.scenario, lambda: nigh_ingest(store, ctx), args.top)
                return 0
            with nighdb.open_store(url) as store:
                print("loading the data set (not profiled)")
                nigh_ingest(store, ctx)
                if what == "hnsw":
                    store.create_index(TENANT, ds.name, m=16, ef_construction=64)  # type: ignore[attr-defined]
            options: dict[str, Any] = {}
            if what == "streamed":
                options["cache_bytes"] = 1 << 20
            flt = ds.filter("f10").nigh() if what == "search-f10" else None
            with nighdb.open_store(url, **options) as store:
                for q in queries[:3]:  # warm: caches, prepared statements
                    store.search(TENANT, ds.name, q, filter=flt)

                def singles() -> None:
                    for q in queries:
                        store.search(TENANT, ds.name, q, filter=flt)

                def many() -> None:
                    store.search_many(TENANT, ds.name, queries)

                _profiled(args.scenario, many if what == "many" else singles, args.top)
        finally:
            if server is not None:
                server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
