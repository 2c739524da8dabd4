"""Crash safety (issue 7): a writer process SIGKILLed in the middle of upserts, many times.

The child prints each batch number only after ``upsert`` returned. After every kill:
every acknowledged batch is fully present with exact ids, vectors, metadata and text; no
batch is partially present (all-or-nothing); the SQLite file passes ``PRAGMA
integrity_check``; and at the end the store opens and works. On SQLite and on PostgreSQL.

Where a kill lands is timing: inside a transaction, or between the acknowledgement and the
next upsert. Both must leave whole batches only, so the checks hold whichever it was; how
often the next batch was absent is reported as a figure, never asserted (it would depend on
the machine's speed and load).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import apsw
import numpy as np
import pytest

import nighdb
from nighdb import Collection

from .. import pg_server
from ..harness import Child, python_job
from . import _child
from ._data import TENANT, batch_id, batch_items
from .conftest import Figures, Scale

DIMS = 32
SIZE = 250  # items per batch: long enough a transaction that kills land inside it


@pytest.fixture(params=["sqlite", "postgres"])
def crash_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return pg_server.url_for(tmp_path)
    return f"sqlite:///{tmp_path / 'crash.db'}"


def _integrity(url: str) -> None:
    if not url.startswith("sqlite:///"):
        return
    conn = apsw.Connection(url.removeprefix("sqlite:///"))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def _check_batches(
    store: nighdb.Store, acked: set[int], attempted: int, exact_from: int = 0
) -> set[int]:
    """All-or-nothing for every attempted batch; acknowledged ones present, and exact from
    batch ``exact_from`` on. Returns the batches present."""
    present: set[int] = set()
    ids = set(store.list_ids(TENANT, "crash"))
    for batch in range(attempted):
        expected = batch_items(0, batch, SIZE, DIMS)
        seen = sum(batch_id(0, batch, k) in ids for k in range(SIZE))
        assert seen in (0, SIZE), f"batch {batch} is partially present: {seen}/{SIZE}"
        if batch in acked:
            assert seen == SIZE, f"acknowledged batch {batch} is missing"
        if seen:
            present.add(batch)
            if batch >= exact_from:
                got = store.fetch(TENANT, "crash", [i["id"] for i in expected])
                for item, want in zip(got, expected, strict=True):
                    assert item.id == want["id"]
                    assert np.array_equal(item.vector, np.asarray(want["vector"], np.float32))
                    assert item.metadata == want["metadata"] and item.text == want["text"]
    assert len(ids) == len(present) * SIZE  # nothing but whole batches
    return present


def test_sigkill_in_the_middle_of_upserts(
    crash_url: str, scale: Scale, figures: Figures, tmp_path: Path
) -> None:
    kills = scale(10, 50)
    rng = random.Random(7)
    with nighdb.open_store(crash_url) as store:
        store.ensure_collection(TENANT, Collection("crash", DIMS))
    acked: set[int] = set()
    next_batch = 0
    next_absent = 0
    for _ in range(kills):
        job = {
            "kind": "crash_writer",
            "url": crash_url,
            "collection": "crash",
            "dims": DIMS,
            "batch_size": SIZE,
            "first_batch": next_batch,
            "max_batches": 1000,
        }
        with Child(python_job(_child.__name__, job)) as child:
            child.wait_ready()
            child.go()
            # Wait for 1-3 acknowledgements, then kill at a random point of the next upsert
            # (the delay spreads the kill over the transaction; it synchronises nothing).
            for _ack in range(rng.randint(1, 3)):
                line = child.stdout.readline()
                assert line.strip().isdigit(), (line, child.proc.poll())
                acked.add(int(line))
            time.sleep(rng.uniform(0, 0.03))
            child.proc.kill()
            child.proc.wait(timeout=30)
            rest = child.stdout.read().split()  # acks printed before the kill landed
            acked.update(int(n) for n in rest)
        first, last = next_batch, max(acked)
        next_batch = last + 2  # the in-flight batch (last + 1) may or may not have committed
        _integrity(crash_url)
        with nighdb.open_store(crash_url) as store:
            present = _check_batches(store, acked, next_batch, exact_from=first)
        next_absent += last + 1 not in present
    with nighdb.open_store(crash_url) as store:
        assert _check_batches(store, acked, next_batch) >= acked  # everything, once more
        # The store still works: write, search, delete after all those kills.
        assert store.upsert(TENANT, "crash", [{"id": "after", "vector": [1.0] * DIMS}]) == 1
        assert store.search(TENANT, "crash", [1.0] * DIMS, limit=1)[0].id == "after"
        assert store.delete(TENANT, "crash", ["after"]) == 1
    _integrity(crash_url)
    backend = "postgres" if crash_url.startswith("postgresql") else "sqlite"
    figures.set("backend", backend)
    figures.add("kills_survived", kills)
    figures.add("acknowledged_batches", len(acked))
    figures.add("items_verified", len(acked) * SIZE)
    # Kills after which the batch being written (or about to be) left no trace at all.
    figures.add("kills_before_the_next_commit", next_absent)
