"""Outages (issue 7): the database goes away under a running service; disks fill up; files
turn read-only.

* PostgreSQL stopped under a service node: every data call in the gap answers 503
  ``unavailable`` within the store's documented ``timeout`` (+ slack), ``/healthz`` keeps
  answering, and once the server is back the same node serves again by itself.
* SQLite on a full disk (the file size limit ``RLIMIT_FSIZE``, which binds root too) and on
  a read-only file (opened by an unprivileged user: root ignores file modes): a coded
  ``NighError``, never a traceback, and nothing partial written.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import httpx
import pytest

import nighdb
from nighdb import Collection

from ..harness import ROOT, ServeNode, create_key, python_job, run_together
from ..pg_server import EmbeddedServer, embedded_server
from . import _child
from ._data import TENANT, batch_items
from .conftest import Figures, Scale

TIMEOUT = 1.0  # the store's `timeout` option on the test node (docs/postgres.md)
SLACK = 3.0
DIMS = 8
ALL_AT_ONCE = ["--tenant-concurrency", "8"]  # the node's --max-concurrency


@pytest.fixture(scope="module")
def pg() -> Iterator[EmbeddedServer]:
    # Its own server: the session's is shared by every other test and must not stop.
    server = embedded_server()
    try:
        yield server
    finally:
        server.cleanup()


GAP_CALLS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/collections", None),
    ("GET", "/v1/collections/docs", None),
    ("POST", "/v1/collections/docs/search", {"vector": [1.0] * DIMS}),
    ("POST", "/v1/collections/docs/upsert", {"items": batch_items(9, 0, 5, DIMS)}),
    ("POST", "/v1/collections/docs/fetch", {"ids": ["w0-b000000-0000"]}),
    ("GET", "/v1/collections/docs/ids", None),
    ("POST", "/v1/collections/docs/delete", {"ids": ["w0-b000000-0000"]}),
    ("PUT", "/v1/collections/other", {"dimensions": DIMS}),
]


def _gap_call(http: httpx.Client, method: str, path: str, payload: Any, bound: float) -> float:
    started = time.monotonic()
    answer = http.request(method, path, json=payload)
    took = time.monotonic() - started
    assert answer.status_code == 503, (method, path, answer.text)
    assert answer.json()["error"]["code"] == "unavailable"
    assert took < bound, (method, path, took)
    return took


def _outage_run(pg: EmbeddedServer, node: ServeNode, key: str, bound: float) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=node.url, headers=headers, timeout=bound + 30) as http:
        assert http.put("/v1/collections/docs", json={"dimensions": DIMS}).is_success
        body = {"items": batch_items(0, 0, 20, DIMS)}
        assert http.post("/v1/collections/docs/upsert", json=body).json() == {"upserted": 20}

        pg.stop()
        try:
            # Every route at once from threads, twice: the first round meets the pool's
            # dead connections, the second waits for a connection that never comes (the
            # timeout path). Calls must not queue behind each other either.
            timings: list[float] = []
            for _round in range(2):
                results: list[float | BaseException] = []

                def gap(
                    call: tuple[str, str, Any], results: list[float | BaseException] = results
                ) -> None:
                    try:
                        results.append(_gap_call(http, *call, bound))
                    except BaseException as exc:
                        results.append(exc)

                threads = [threading.Thread(target=gap, args=(call,)) for call in GAP_CALLS]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=bound + 30)
                assert len(results) == len(GAP_CALLS)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
                    timings.append(result)
            assert http.get("/healthz").json() == {"status": "ok"}  # liveness, not the database
            # Readiness is the database's: not ready within --ready-timeout (2 s) + slack.
            started = time.monotonic()
            ready = http.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert "database" in ready.json()["reason"], ready.text
            assert time.monotonic() - started < 2.0 + SLACK
        finally:
            pg.start()
        slowest = max(timings)

        # The same node recovers by itself (its pool reconnects): bounded polling.
        started = time.monotonic()
        while True:
            answer = http.post("/v1/collections/docs/search", json={"vector": [1.0] * DIMS})
            if answer.status_code == 200:
                break
            assert answer.status_code == 503, answer.text
            assert time.monotonic() - started < 30, "the service did not recover"
        recovered = time.monotonic() - started
        assert http.get("/readyz").json() == {"status": "ready"}
        ids = http.get("/v1/collections/docs/ids").json()["ids"]
        assert sorted(ids) == sorted(i["id"] for i in body["items"])  # nothing lost, nothing half
        after = {"items": batch_items(1, 0, 3, DIMS)}
        assert http.post("/v1/collections/docs/upsert", json=after).json() == {"upserted": 3}
        assert http.get("/v1/collections/docs").json()["count"] == 23
        assert http.delete("/v1/collections/docs").is_success
    return {"slowest_gap_call_s": round(slowest, 3), "recovery_s": round(recovered, 3)}


@pytest.mark.parametrize("mode", ["workers", "threads"])
def test_postgres_stops_under_nigh_serve(pg: EmbeddedServer, mode: str, figures: Figures) -> None:
    """``nigh serve --store-timeout 1``, in both modes: a gap call waits at most that."""
    key = create_key(pg.url, TENANT)
    threads = ["--threads"] if mode == "threads" else []
    # All 8 gap calls run at once: with the default budget of 3 per tenant the others would
    # wait their turn first (up to 3 timeouts in a row), which is fair sharing, not this.
    options = ["--no-access-log", "--store-timeout", str(TIMEOUT), *ALL_AT_ONCE, *threads]
    with ServeNode.nigh_serve(pg.url, *options) as node:
        got = _outage_run(pg, node, key, TIMEOUT + SLACK)
        assert "Traceback" not in node.text(), node.text()
    figures.set("store_timeout_s", TIMEOUT)
    figures.set("bound_s", TIMEOUT + SLACK)
    figures.add("gap_calls", len(GAP_CALLS) * 2)
    for name, value in got.items():
        figures.set(name, value)


def test_nigh_serve_default_timeout_outage(
    pg: EmbeddedServer, scale: Scale, figures: Figures
) -> None:
    """Without ``--store-timeout``, the bound is the PostgreSQL store's default (10 s)."""
    if not scale.soak:
        pytest.skip("soak only: each call of the gap may wait the default 10 s timeout")
    key = create_key(pg.url, TENANT)
    with ServeNode.nigh_serve(pg.url, "--no-access-log", *ALL_AT_ONCE) as node:
        got = _outage_run(pg, node, key, 10.0 + SLACK)
        assert "Traceback" not in node.text(), node.text()
    for name, value in got.items():
        figures.set(name, value)


def test_a_locked_sqlite_file_under_nigh_serve_waits_store_timeout(
    tmp_path: Path, figures: Figures
) -> None:
    """``--store-timeout`` is SQLite's busy timeout: a write behind another process's write
    lock is 503 ``unavailable`` after it (the default would wait 30 s)."""
    path = tmp_path / "locked.db"
    key = create_key(f"sqlite:///{path}", TENANT)
    options = ["--no-access-log", "--store-timeout", "0.5"]
    with (
        ServeNode.nigh_serve(f"sqlite:///{path}", *options) as node,
        httpx.Client(
            base_url=node.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http,
    ):
        assert http.put("/v1/collections/docs", json={"dimensions": DIMS}).is_success
        holder = apsw.Connection(str(path))
        holder.set_busy_timeout(10_000)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            started = time.monotonic()
            answer = http.post(
                "/v1/collections/docs/upsert", json={"items": batch_items(0, 0, 3, DIMS)}
            )
            took = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "unavailable"
        assert took < 0.5 + SLACK, took
        # Once the lock is gone the same node writes, and the refused call left nothing.
        assert http.get("/v1/collections/docs").json()["count"] == 0
        upsert = http.post(
            "/v1/collections/docs/upsert", json={"items": batch_items(0, 0, 3, DIMS)}
        )
        assert upsert.json() == {"upserted": 3}
        assert "Traceback" not in node.text(), node.text()
    figures.set("locked_write_answered_s", round(took, 3))


def test_a_full_disk_is_a_coded_error_and_writes_nothing(tmp_path: Path, figures: Figures) -> None:
    url = f"sqlite:///{tmp_path / 'full.db'}"
    with nighdb.open_store(url) as store:
        store.ensure_collection(TENANT, Collection("docs", 256))
        store.upsert(TENANT, "docs", batch_items(0, 0, 10, 256))
    size = sum(p.stat().st_size for p in tmp_path.iterdir())
    job = {
        "kind": "full_disk",
        "url": url,
        "collection": "docs",
        "dims": 256,
        "batch_size": 2000,  # ~2 MB of vectors: far past the limit below
        "max_file_bytes": size + 64 * 1024,
    }
    [result] = run_together([python_job(_child.__name__, job)], timeout=120)
    assert result["error"] == "StoreUnavailableError" and result["code"] == "unavailable", result
    with nighdb.open_store(url) as store:
        assert store.count(TENANT, "docs") == 10  # the failed batch left nothing behind
        assert store.upsert(TENANT, "docs", batch_items(1, 0, 5, 256)) == 5  # space again
    figures.set("error", f"{result['code']}: {result['message']}")


def test_a_read_only_file_is_a_coded_error(tmp_path: Path, figures: Figures) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    path = directory / "ro.db"
    url = f"sqlite:///{path}"
    with nighdb.open_store(url) as store:
        store.ensure_collection(TENANT, Collection("docs", DIMS))
        store.upsert(TENANT, "docs", batch_items(0, 0, 10, DIMS))
    for p in [directory, *directory.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    tmp_path.chmod(0o755)
    try:
        done = subprocess.run(
            python_job(
                _child.__name__,
                {
                    "kind": "read_only",
                    "url": url,
                    "collection": "docs",
                    "dims": DIMS,
                    "batch_size": 5,
                },
            ),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    finally:
        for p in [directory, *directory.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert done.returncode == 0, done.stderr  # no traceback: the child caught a coded error
    result = json.loads(done.stdout)
    assert result.get("code") == "unavailable", result
    if result["stage"] == "upsert":
        assert result["count"] == 10
    with nighdb.open_store(url) as store:
        assert store.count(TENANT, "docs") == 10
    figures.set("outcome", result)
