"""Concurrency under load (issue 7), for a fixed duration.

* Several writer and reader *processes* on one SQLite file.
* Two ``nigh serve`` nodes on one PostgreSQL, writer and reader clients spread over both.

Zero errors (every child exits 0; every HTTP answer is a success), zero lost or duplicated
writes (a final reconciliation of every id and vector against what the writers were told
was written), and readers never see a partially written batch (each batch seen by a reader
has all of its items, and a batch once seen never disappears).
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import nighdb
from nighdb import Collection

from .. import pg_server
from ..harness import ServeNode, create_key, python_job, run_together
from . import _child
from ._data import TENANT, batch_id, batch_items
from .conftest import Figures, Scale

DIMS = 16
SIZE = 40


def reconcile(store: nighdb.Store, collection: str, batches: dict[int, int]) -> int:
    """Every acknowledged item present exactly once with its exact vector, nothing else."""
    expected = {
        batch_id(w, b, k): (w, b, k)
        for w, n in batches.items()
        for b in range(n)
        for k in range(SIZE)
    }
    ids = store.list_ids(TENANT, collection)
    assert len(ids) == len(set(ids)), "an id is listed twice"
    lost, extra = set(expected) - set(ids), set(ids) - set(expected)
    assert not lost and not extra, f"lost: {sorted(lost)[:5]}, extra: {sorted(extra)[:5]}"
    assert store.count(TENANT, collection) == len(expected)
    for w, n in batches.items():
        for b in range(n):
            want = batch_items(w, b, SIZE, DIMS)
            got = store.fetch(TENANT, collection, [i["id"] for i in want])
            assert len(got) == SIZE
            for item, spec in zip(got, want, strict=True):
                assert np.array_equal(item.vector, np.asarray(spec["vector"], np.float32))
                assert item.metadata == spec["metadata"]
    return len(expected)


def test_processes_write_and_read_one_sqlite_file(
    tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    url = f"sqlite:///{tmp_path / 'load.db'}"
    writers, readers = 3, 2
    seconds = scale.seconds(4.0, 60.0)
    with nighdb.open_store(url) as store:
        store.ensure_collection(TENANT, Collection("load", DIMS))
    common = {"url": url, "collection": "load", "dims": DIMS, "batch_size": SIZE}
    jobs: list[dict[str, Any]] = [
        {**common, "kind": "load_writer", "writer": w, "seconds": seconds, "max_batches": 100_000}
        for w in range(writers)
    ] + [
        {
            **common,
            "kind": "load_reader",
            "writers": writers,
            "seed": r,
            "seconds": seconds,
            "max_reads": 1_000_000,
        }
        for r in range(readers)
    ]
    commands = [python_job(_child.__name__, job) for job in jobs]
    results = run_together(commands, timeout=seconds + 120)
    batches = {w: results[w]["batches"] for w in range(writers)}
    assert all(n > 0 for n in batches.values()), batches
    reads = sum(r["reads"] for r in results[writers:])
    assert reads > 0
    with nighdb.open_store(url) as store:
        items = reconcile(store, "load", batches)
    figures.set("duration_s", seconds)
    figures.set("processes", f"{writers} writers + {readers} readers")
    figures.add("batches_written", sum(batches.values()))
    figures.add("items_reconciled", items)
    figures.add("reads", reads)
    figures.add(
        "batches_checked_whole_by_readers", sum(r["batches_checked"] for r in results[writers:])
    )


class _Errors:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors: list[str] = []

    def guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # reported, then asserted on in the main thread
                with self.lock:
                    self.errors.append(repr(exc))

        return run


def test_two_service_nodes_on_one_postgres(tmp_path: Path, scale: Scale, figures: Figures) -> None:
    url = pg_server.url_for(tmp_path)
    key = create_key(url, "rel")
    assert TENANT == "rel"
    seconds = scale.seconds(4.0, 60.0)
    writers, readers = 4, 2
    with (
        ServeNode.nigh_serve(url, "--no-access-log") as one,
        ServeNode.nigh_serve(url, "--no-access-log") as two,
    ):
        headers = {"Authorization": f"Bearer {key}"}
        clients = [httpx.Client(base_url=n.url, headers=headers, timeout=60) for n in (one, two)]
        try:
            put = clients[0].put("/v1/collections/load", json={"dimensions": DIMS})
            assert put.status_code == 201, put.text
            errors = _Errors()
            batches: dict[int, int] = dict.fromkeys(range(writers), 0)
            counts = {"reads": 0, "checked": 0}
            gate = threading.Barrier(writers + readers)

            def writer(w: int) -> None:
                gate.wait()
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    b = batches[w]
                    body = {"items": batch_items(w, b, SIZE, DIMS)}
                    answer = clients[b % 2].post("/v1/collections/load/upsert", json=body)
                    assert answer.status_code == 200 and answer.json() == {"upserted": SIZE}, (
                        answer.text
                    )
                    batches[w] = b + 1

            def reader(r: int) -> None:
                rng = random.Random(r)
                gate.wait()
                seen: dict[int, int] = dict.fromkeys(range(writers), -1)
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    w = rng.randrange(writers)
                    low = max(0, seen[w] - rng.randrange(8))
                    body = {
                        "vector": [1.0] * DIMS,
                        "limit": 8 * SIZE + 1,
                        "filter": {"writer": w, "batch": {"gte": low, "lt": low + 8}},
                    }
                    answer = clients[rng.randrange(2)].post(
                        "/v1/collections/load/search", json=body
                    )
                    assert answer.status_code == 200, answer.text
                    per: dict[int, int] = {}
                    for m in answer.json()["matches"]:
                        per[m["metadata"]["batch"]] = per.get(m["metadata"]["batch"], 0) + 1
                    for b, n in per.items():
                        assert n == SIZE, f"partial batch {b} of writer {w}: {n}/{SIZE}"
                        seen[w] = max(seen[w], b)
                    for b in range(low, min(low + 8, seen[w] + 1)):
                        assert b in per, f"batch {b} of writer {w} vanished"
                    counts["reads"] += 1
                    counts["checked"] += len(per)

            threads = [
                threading.Thread(target=errors.guard(functools.partial(writer, w)))
                for w in range(writers)
            ] + [
                threading.Thread(target=errors.guard(functools.partial(reader, r)))
                for r in range(readers)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=seconds + 120)
            assert not any(t.is_alive() for t in threads), "a client thread hung"
            assert errors.errors == []
        finally:
            for client in clients:
                client.close()
        for node in (one, two):
            assert "Traceback" not in node.text(), node.text()
    assert all(n > 0 for n in batches.values()), batches
    assert counts["reads"] > 0
    with nighdb.open_store(url) as store:
        items = reconcile(store, "load", batches)
    figures.set("duration_s", seconds)
    figures.set("clients", f"{writers} writers + {readers} readers over 2 nigh serve nodes")
    figures.add("batches_written", sum(batches.values()))
    figures.add("items_reconciled", items)
    figures.add("reads", counts["reads"])
    figures.add("batches_checked_whole_by_readers", counts["checked"])
