"""Crash safety of ``update`` and ``delete(filter=)`` (contract §13): a writer process
SIGKILLed in the middle of them, many times, on SQLite and on PostgreSQL.

After every kill: every item of the updated collection carries the same round (the last
acknowledged one, or the next one if its commit landed before the kill), with that round's
text and vector (all or nothing, no mix of rounds); every delete group is either whole or
gone, and every acknowledged one is gone; the SQLite file passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nighdb
from nighdb import Collection

from .. import pg_server
from ._data import TENANT, vector
from .conftest import Figures, Scale
from .test_crash import _integrity

ROOT = Path(__file__).resolve().parents[2]
DIMS = 16
UPDATED = 300  # items patched per round: a transaction long enough for kills to land inside
GROUP = 40  # items per delete group
GROUPS = 400  # more than any run's rounds


@pytest.fixture(params=["sqlite", "postgres"])
def crash_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return pg_server.url_for(tmp_path)
    return f"sqlite:///{tmp_path / 'crash-ops.db'}"


def _ids() -> list[str]:
    return [f"u{k:04d}" for k in range(UPDATED)]


def _setup(url: str) -> None:
    with nighdb.open_store(url) as store:
        store.ensure_collection(TENANT, Collection("upd", DIMS))
        store.ensure_collection(TENANT, Collection("del", DIMS))
        store.upsert(
            TENANT,
            "upd",
            [
                {"id": i, "vector": vector(-1, k, DIMS), "metadata": {"round": -1, "k": k}}
                for k, i in enumerate(_ids())
            ],
        )
        for start in range(0, GROUPS, 50):
            store.upsert(
                TENANT,
                "del",
                [
                    {
                        "id": f"g{g:04d}-{k:03d}",
                        "vector": vector(g, k, DIMS),
                        "metadata": {"group": g},
                    }
                    for g in range(start, start + 50)
                    for k in range(GROUP)
                ],
            )


def _check(url: str, updated: int, deleted: int) -> int:
    """The state after a kill; returns the round the updated collection is at."""
    _integrity(url)
    with nighdb.open_store(url) as store:
        items = store.scroll(TENANT, "upd", limit=UPDATED + 1)
        assert len(items) == UPDATED
        rounds = {int(i.metadata["round"]) for i in items}
        assert len(rounds) == 1, f"a mix of rounds after a kill: {sorted(rounds)}"
        (r,) = rounds
        assert r in (updated, updated + 1), (r, updated)
        for k, item in enumerate(items):
            assert item.metadata == {"round": r, "k": k}
            assert item.text == ("" if r < 0 else f"r{r}")
            assert np.array_equal(item.vector, np.asarray(vector(r, k, DIMS), np.float32))
        for g in range(max(0, deleted - 1), deleted + 3):
            left = store.count(TENANT, "del", filter={"group": g})
            assert left in (0, GROUP), f"group {g} is partially deleted: {left}/{GROUP}"
        # Every acknowledged delete is complete.
        assert store.count(TENANT, "del", filter={"group": {"lte": deleted}}) == 0
        return r


def test_sigkill_in_the_middle_of_update_and_delete_by_filter(
    crash_url: str, scale: Scale, figures: Figures
) -> None:
    kills = scale(6, 30)
    rng = random.Random(11)
    _setup(crash_url)
    updated, deleted, first = -1, -1, 0
    for _ in range(kills):
        job = {"url": crash_url, "ids": _ids(), "dims": DIMS, "first_round": first, "rounds": 50}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._ops_child", json.dumps(job)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdin is not None
            assert proc.stdout.readline() == "ready\n"
            proc.stdin.write("go\n")
            proc.stdin.flush()
            for _ack in range(rng.randint(1, 4)):
                kind, r = proc.stdout.readline().split()
                if kind == "u":
                    updated = int(r)
                else:
                    deleted = int(r)
            time.sleep(rng.uniform(0, 0.03))
            proc.kill()
            proc.wait(timeout=30)
            for line in proc.stdout.read().splitlines():  # acks printed before the kill
                kind, r = line.split()
                if kind == "u":
                    updated = int(r)
                else:
                    deleted = int(r)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        at = _check(crash_url, updated, deleted)
        # The next child starts after every round that may have committed.
        first = max(at, updated, deleted) + 1
        # Rounds never reached by the delete side leave their groups: skip past them too.
        with nighdb.open_store(crash_url) as store:
            store.delete(TENANT, "del", filter={"group": {"lt": first}})
        deleted = first - 1
        updated = at
    figures.set("backend", "postgres" if crash_url.startswith("postgresql") else "sqlite")
    figures.add("kills_survived", kills)
    figures.add("rounds_acknowledged", first)
