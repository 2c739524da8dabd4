"""Several OS processes ("nodes") on one PostgreSQL, and the core install without the driver.

Children are plain ``python -c`` processes on the gate protocol of ``tests/harness.py``: they
open the store from its URL, print ``ready``, wait for a line on stdin (so their work
overlaps without sleeps), work, and print one JSON line. Assertions are on results, never
on timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nighdb
from nighdb import Collection

from .harness import ROOT, run_together
from .pg_server import url_for

NODE = textwrap.dedent(
    """
    import json, sys
    import nighdb

    job = json.loads(sys.argv[1])
    store = nighdb.open_store(job["url"])
    print("ready", flush=True)
    sys.stdin.readline()
    T, name, me = job["tenant"], job["name"], job["node"]
    if job["kind"] == "ensure":
        pin = store.ensure_collection(T, nighdb.Collection(name, 8, "model", "l2"))
        store.upsert(T, name, [{"id": f"from-{me}", "vector": [1.0] * 8}])
        result = [pin.name, pin.dimensions, pin.embedding_model, pin.metric]
    else:
        written = deleted = 0
        shared = [f"shared-{k:03d}" for k in range(60)]
        for b in range(job["batches"]):
            own = [
                {"id": f"n{me}-{b:02d}-{k:03d}", "vector": [me + 1.0, k + 1.0, b + 1.0],
                 "metadata": {"node": me, "batch": b}}
                for k in range(job["size"])
            ]
            # Both nodes also rewrite the same ids, in opposite orders: no deadlock may escape.
            order = shared if me == 0 else shared[::-1]
            both = [{"id": i, "vector": [1.0, 2.0, 3.0], "metadata": {"by": me}} for i in order]
            assert store.upsert(T, name, own + both) == len(own) + len(both)
            written += len(own)
            mine = store.search(T, name, [1.0, 1.0, 1.0], limit=10**5, filter={"node": me})
            assert len(mine) == written - deleted, (len(mine), written, deleted)
            # Each node deletes the first item of its previous batch.
            if b:
                assert store.delete(T, name, [f"n{me}-{b - 1:02d}-000"]) == 1
                deleted += 1
        result = written
    store.close()
    print(json.dumps(result), flush=True)
    """
)


def run_nodes(jobs: list[dict[str, Any]]) -> list[Any]:
    """Start one node per job, release them together, return their JSON results."""
    return run_together([[sys.executable, "-c", NODE, json.dumps(job)] for job in jobs])


def test_two_nodes_upserting_and_searching_lose_nothing(tmp_path: Path) -> None:
    url = url_for(tmp_path)
    with nighdb.open_store(url) as store:
        store.ensure_collection("t", Collection("shared", 3, metric="l2"))
    batches, size = 12, 40
    jobs = [
        {"url": url, "kind": "write", "tenant": "t", "name": "shared", "node": n}
        | {"batches": batches, "size": size}
        for n in (0, 1)
    ]
    assert run_nodes(jobs) == [batches * size] * 2
    with nighdb.open_store(url) as store:
        expected = {
            f"n{n}-{b:02d}-{k:03d}"
            for n in (0, 1)
            for b in range(batches)
            for k in range(size)
            if not (k == 0 and b < batches - 1)  # deleted by the next batch
        } | {f"shared-{k:03d}" for k in range(60)}
        assert set(store.list_ids("t", "shared")) == expected
        assert store.count("t", "shared") == len(expected)


def test_concurrent_first_time_ensure_from_processes(tmp_path: Path) -> None:
    # A brand-new schema: the processes also race to create the registry itself.
    url = url_for(tmp_path)
    nodes = 6
    jobs = [
        {"url": url, "kind": "ensure", "tenant": "t", "name": "raced", "node": n}
        for n in range(nodes)
    ]
    assert run_nodes(jobs) == [["raced", 8, "model", "l2"]] * nodes
    with nighdb.open_store(url) as store:
        assert store.list_collections("t") == [Collection("raced", 8, "model", "l2")]
        assert store.count("t", "raced") == nodes


BLOCKED = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {"psycopg", "psycopg_pool", "psycopg_binary", "psycopg_c", "pgvector"}

    class NoDriver(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoDriver())
    import nighdb

    with nighdb.open_store(f"sqlite:///{sys.argv[1]}") as store:
        store.ensure_collection("t", nighdb.Collection("c", 2))
        store.upsert("t", "c", [{"id": "a", "vector": [1.0, 0.0]}])
        assert [m.id for m in store.search("t", "c", [1.0, 0.0])] == ["a"]
    for url in ("postgresql://user@localhost/db", "postgres://user@localhost/db"):
        try:
            nighdb.open_store(url)
        except nighdb.InvalidArgumentError as exc:
            assert "nighdb[postgres]" in str(exc), str(exc)
        else:
            raise AssertionError("opened a Postgres store without psycopg")
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("ok")
    """
)


def test_core_works_without_the_postgres_driver(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, str(tmp_path / "core.db")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
