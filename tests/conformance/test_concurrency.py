"""Concurrency (contract §2, §3, §8): threads on one store, several processes on one database.

Start gates (a ``threading.Barrier``; a line on the children's stdin, the gate protocol of
``tests/harness.py``) make the work overlap without any sleep; the assertions are on results
only, never on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import nighdb
from nighdb import Collection

from ..harness import python_job, run_together
from . import _worker
from ._helpers import BIG, TENANT, make

THREADS = 8


def _run_threads(fn: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    """Run ``fn(i)`` in ``n`` threads released together; return results, re-raising errors."""
    gate = threading.Barrier(n)

    def gated(i: int) -> Any:
        gate.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(gated, i) for i in range(n)]
        return [f.result(timeout=120) for f in futures]


def test_threads_upsert_and_search_one_store(store: nighdb.Store) -> None:
    make(store, "docs", 3)
    batches, size = 10, 50

    def work(worker: int) -> int:
        written = 0
        for b in range(batches):
            items = [
                {
                    "id": f"t{worker}-{b * size + k:04d}",
                    "vector": [float(worker + 1), float(k + 1), float(b + 1)],
                    "metadata": {"worker": worker},
                }
                for k in range(size)
            ]
            assert store.upsert(TENANT, "docs", items) == size
            written += size
            mine = store.search(
                TENANT, "docs", [1.0, 1.0, 1.0], limit=BIG, filter={"worker": worker}
            )
            assert len(mine) == written
            assert {m.metadata["worker"] for m in mine} == {worker}
            assert len(store.search(TENANT, "docs", [1.0, 2.0, 3.0], limit=5)) == 5
        return written

    assert _run_threads(work) == [batches * size] * THREADS
    assert store.count(TENANT, "docs") == THREADS * batches * size
    expected = {f"t{w}-{n:04d}" for w in range(THREADS) for n in range(batches * size)}
    assert set(store.list_ids(TENANT, "docs")) == expected


def test_threads_mixing_writes_deletes_and_reads(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="l2")
    store.upsert(
        TENANT, "docs", [{"id": f"base-{n:03d}", "vector": [float(n), 0.0]} for n in range(200)]
    )

    def work(worker: int) -> None:
        if worker % 2 == 0:
            # Writers: add their own ids, then delete half of them again.
            own = [f"w{worker}-{n:03d}" for n in range(100)]
            store.upsert(TENANT, "docs", [{"id": i, "vector": [1.0, 1.0]} for i in own])
            assert store.delete(TENANT, "docs", own[::2]) == 50
        else:
            # Readers: the 200 base items are always there, whatever the writers do.
            for _ in range(20):
                got = store.search(
                    TENANT,
                    "docs",
                    [0.0, -1000.0],
                    limit=BIG,
                    filter={"id": {"gte": "base-", "lt": "base."}},
                )
                assert len(got) == 200
                assert store.count(TENANT, "docs") >= 200

    _run_threads(work)
    writers = [w for w in range(THREADS) if w % 2 == 0]
    expected = {f"base-{n:03d}" for n in range(200)} | {
        f"w{w}-{n:03d}" for w in writers for n in range(1, 100, 2)
    }
    assert set(store.list_ids(TENANT, "docs")) == expected


def test_concurrent_first_time_ensure_from_threads(store: nighdb.Store) -> None:
    wanted = Collection("shared", 16, "model-x", "l2")

    def work(worker: int) -> Collection:
        pin = store.ensure_collection(TENANT, wanted)
        store.upsert(TENANT, "shared", [{"id": f"from-{worker}", "vector": [1.0] * 16}])
        return pin

    assert _run_threads(work) == [wanted] * THREADS
    assert store.list_collections(TENANT) == [wanted]
    assert store.count(TENANT, "shared") == THREADS


def test_concurrent_ensure_with_different_pins_has_one_winner(store: nighdb.Store) -> None:
    # Two incompatible pins race: exactly one is created; every other call either returns
    # that pin or raises a conflict naming it.
    pins = [Collection("raced", 4 + (i % 2), "", "cosine") for i in range(THREADS)]

    def work(worker: int) -> Collection | str:
        try:
            return store.ensure_collection(TENANT, pins[worker])
        except nighdb.CollectionConflictError as err:
            assert err.field == "dimensions"
            return err.existing

    results = _run_threads(work)
    [winner] = store.list_collections(TENANT)
    for worker, result in enumerate(results):
        if isinstance(result, Collection):
            assert result == winner == pins[worker]
        else:
            assert result == str(winner.dimensions)
            assert pins[worker].dimensions != winner.dimensions


# -- several OS processes ------------------------------------------------------------------


def test_processes_write_one_database_without_losing_writes(
    store: nighdb.Store, store_url: str
) -> None:
    make(store, "docs", 3)
    workers, batches, size = 4, 8, 100
    jobs = [
        {
            "kind": "upsert",
            "url": store_url,
            "tenant": TENANT,
            "name": "docs",
            "worker": w,
            "batches": batches,
            "batch_size": size,
        }
        for w in range(workers)
    ]
    results = run_together([python_job(_worker.__name__, job) for job in jobs])
    assert results == [{"written": batches * size}] * workers
    expected = {f"w{w}-{n:05d}" for w in range(workers) for n in range(batches * size)}
    assert set(store.list_ids(TENANT, "docs")) == expected
    assert store.count(TENANT, "docs") == len(expected)
    # The parent's searches see every child's rows.
    for w in range(workers):
        got = store.search(TENANT, "docs", [1.0, 1.0, 1.0], limit=BIG, filter={"worker": w})
        assert len(got) == batches * size


def test_concurrent_first_time_ensure_from_processes(store: nighdb.Store, store_url: str) -> None:
    workers = 6
    wanted = {"name": "shared", "dimensions": 8, "model": "model-p", "metric": "ip"}
    jobs = [
        {
            "kind": "ensure",
            "url": store_url,
            "tenant": TENANT,
            "collection": wanted,
            "item_id": f"from-{w}",
        }
        for w in range(workers)
    ]
    results = run_together([python_job(_worker.__name__, job) for job in jobs])
    pin = {"name": "shared", "dimensions": 8, "embedding_model": "model-p", "metric": "ip"}
    assert results == [pin] * workers
    assert store.list_tenants() == [TENANT]
    assert store.list_collections(TENANT) == [Collection("shared", 8, "model-p", "ip")]
    # Every process wrote into the one collection that exists.
    assert sorted(store.list_ids(TENANT, "shared")) == [f"from-{w}" for w in range(workers)]
