"""nighdb's embedded backend (SQLite + sqlite-vec), through the public API only.

Ingest: ``upsert`` of ``ctx.batch`` items at a time (id, vector, metadata), the store's
default durability (``synchronous=full``). Search: ``search``/``search_many`` with the
default cache budget (over it, the int8 copy with exact rescoring); the ``search-streamed``
phase reopens the file with a budget of a quarter of the collection, so every search streams
it from the file (still exact). Over the budget, ``search-cold`` first times the first query
of a process with no persisted int8 copy (it builds and persists one); the ``search`` phase
after it then reports the first query of a process that loads the persisted copy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

import nighdb
from nighdb.backends.sqlite.cache import DEFAULT_CACHE_BYTES

from ..datasets import FilterSpec, item_id
from ..measure import peak_rss_mb, run_searches
from .base import Context, batches, file_bytes

TENANT = "bench"


class NighSearcher:
    """Maps ``Match`` ids back to rows; the options go to every search call."""

    def __init__(self, store: Any, collection: str, **options: Any) -> None:
        self.store = store
        self.collection = collection
        self.options = options

    def search(self, query: npt.NDArray[Any], k: int, flt: FilterSpec | None) -> Sequence[int]:
        matches = self.store.search(
            TENANT,
            self.collection,
            query,
            limit=k,
            filter=None if flt is None else flt.nigh(),
            **self.options,
        )
        return [int(m.id) for m in matches]

    def search_many(self, queries: npt.NDArray[Any], k: int) -> list[Sequence[int]] | None:
        lists = self.store.search_many(TENANT, self.collection, queries, limit=k, **self.options)
        return [[int(m.id) for m in matches] for matches in lists]


def nigh_ingest(store: Any, ctx: Context) -> float:
    """Create the collection and upsert every row; the seconds it took."""
    store.ensure_collection(TENANT, nighdb.Collection(ctx.ds.name, ctx.ds.dims))
    fields = list(ctx.ds.fields)
    t = time.perf_counter()
    for start, vectors, meta in batches(ctx.ds, ctx.batch):
        items = [
            {
                "id": item_id(start + i),
                "vector": vectors[i],
                "metadata": {f: meta[f][i] for f in fields},
            }
            for i in range(vectors.shape[0])
        ]
        store.upsert(TENANT, ctx.ds.name, items)
    return time.perf_counter() - t


def _cache_bytes(ctx: Context) -> int:
    """What the backend's cache needs for the collection (its own estimate, sqlite.py)."""
    return ctx.ds.count * (ctx.ds.dims * 4 + 80)


class NighSqlite:
    key = "nigh-sqlite"
    label = "nighdb sqlite"
    needs_postgres = False

    def phases(self, ctx: Context) -> list[str]:
        # Over the default budget the plain search phase streams; then show the cached path
        # with a budget that fits, else show streaming with a budget that does not.
        if _cache_bytes(ctx) > DEFAULT_CACHE_BYTES:
            return ["ingest", "search-cold", "search", "search-cached"]
        return ["ingest", "search", "search-streamed"]

    def run(self, phase: str, ctx: Context) -> dict[str, Any]:
        path = ctx.workdir / "nigh.db"
        if phase == "ingest":
            with nighdb.open_store(str(path)) as store:
                seconds = nigh_ingest(store, ctx)
            return {
                "ingest_s": seconds,
                "ingest_vps": ctx.ds.count / seconds,
                "disk_bytes": file_bytes(path, path.with_name("nigh.db-wal")),
                "ingest_rss_mb": peak_rss_mb(),
            }
        if phase == "search-cold":
            return _cold_first_query(path, ctx)
        options: dict[str, Any] = {}
        variant = "exact"
        if phase == "search-streamed":
            # A quarter of what the collection needs in the cache: every search streams it.
            budget = max(1 << 20, _cache_bytes(ctx) // 4)
            options["cache_bytes"] = budget
            variant = f"streamed ({budget / 2**20:.0f} MiB cache budget)"
        elif phase == "search-cached":
            budget = 2 * _cache_bytes(ctx)
            options["cache_bytes"] = budget
            variant = f"cached ({budget / 2**20:.0f} MiB cache budget)"
        note = ""
        if phase == "search" and _cache_bytes(ctx) > DEFAULT_CACHE_BYTES:
            note = (
                f"int8 copy + exact rescoring (float32 over the default "
                f"{DEFAULT_CACHE_BYTES >> 20} MiB budget); first query loads the persisted copy"
            )
        with nighdb.open_store(str(path), **options) as store:
            result = run_searches(
                NighSearcher(store, ctx.ds.name),
                ctx.ds,
                ctx.budget,
                filters=not ctx.latency_only,
                many=not ctx.latency_only,
                log=ctx.log,
            )
        if note:
            result["note"] = note
        return {"variants": {variant: result}}


def _cold_first_query(path: Any, ctx: Context) -> dict[str, Any]:
    """The first query of a process when no persisted int8 copy exists: it reads every row,
    quantizes it and persists the copy (which the next phase's process then loads)."""
    for stale in path.parent.glob(f"{path.name}-nigh-int8-*"):
        stale.unlink()
    query = ctx.ds.query_vectors()[0]
    t = time.perf_counter()
    with nighdb.open_store(str(path)) as store:
        store.search(TENANT, ctx.ds.name, query, limit=10)
        first_ms = (time.perf_counter() - t) * 1000.0
    persisted = sum(f.stat().st_size for f in path.parent.glob(f"{path.name}-nigh-int8-*"))
    variant = "first query, no persisted int8 copy (builds it)"
    return {
        "variants": {
            variant: {"first_ms": first_ms, "note": f"persisted {persisted / 1e6:.0f} MB"}
        },
    }
