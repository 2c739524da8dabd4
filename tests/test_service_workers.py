"""``nigh serve``'s worker processes (service/workers.py), on a real server process.

Half the workers run 10 steps nicer (the requests of a tenant over its share); a worker that
dies is replaced, and the requests after it are served; ``--threads`` keeps the former
in-process mode, without workers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import nighdb
from nighdb.errors import UnauthenticatedError
from nighdb.service.limits import ServiceLimits
from nighdb.service.workers import Worker, WorkerPool

from .harness import ServeNode, create_key


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _workers(pid: int) -> list[int]:
    """The node's worker processes: its children but multiprocessing's helpers, its fork
    server (which forks the replacements of demoted workers: those are its children, not
    the node's) and its resource tracker (started with the fork server)."""
    helpers = (b"multiprocessing.forkserver", b"multiprocessing.resource_tracker")
    return [w for w in _children(pid) if not any(h in _cmdline(w) for h in helpers)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return b""


def _nice(pid: int) -> int:
    # Field 19 of /proc/PID/stat; the command name (field 2) may hold spaces, so count
    # from its closing parenthesis.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])


def _searches_work(url: str, key: str, times: int) -> list[int]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        http.put("/v1/collections/c", json={"dimensions": 2}).raise_for_status()
        return [
            http.post("/v1/collections/c/search", json={"vector": [1, 0]}).status_code
            for _ in range(times)
        ]


def test_workers_run_at_two_priorities_and_a_dead_one_is_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = create_key(url, "acme")
    flags = ("--no-access-log", "--max-concurrency", "2", "--tenant-concurrency", "1")
    with ServeNode.nigh_serve(url, *flags) as node:
        workers = _workers(node.proc.pid)
        own = _nice(node.proc.pid)
        assert sorted(_nice(w) - own for w in workers) == [0, 0, 10, 10]
        assert _searches_work(node.url, key, 3) == [200] * 3
        for worker in workers:  # every worker, normal and low priority, killed while idle
            os.kill(worker, signal.SIGKILL)
        time.sleep(0.2)
        # Each is replaced as it is next needed: nothing is refused.
        assert _searches_work(node.url, key, 5) == [200] * 5
        # Within its share, acme's requests run on the normal workers: both are new processes.
        # (Spawning them also starts multiprocessing's resource tracker, a child too.)
        fresh = [
            w for w in _workers(node.proc.pid) if w not in workers and b"spawn_main" in _cmdline(w)
        ]
        assert len(fresh) == 2 and all(_nice(w) == own for w in fresh)
        assert "Traceback" not in node.text(), node.text()


def test_threads_mode_has_no_worker_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = create_key(url, "acme")
    with ServeNode.nigh_serve(url, "--no-access-log", "--threads") as node:
        assert _children(node.proc.pid) == []
        assert _searches_work(node.url, key, 3) == [200] * 3


def _stopped(pid: int) -> bool:
    """Killed: a zombie waiting for its parent to reap it, or gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_readyz_says_not_ready_when_workers_stopped_and_ready_once_replaced(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = create_key(url, "acme")
    flags = ("--no-access-log", "--max-concurrency", "2", "--tenant-concurrency", "1")
    with ServeNode.nigh_serve(url, *flags) as node, httpx.Client(base_url=node.url) as http:
        assert http.get("/readyz").json() == {"status": "ready"}
        workers = _workers(node.proc.pid)
        assert len(workers) == 4
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not all(_stopped(w) for w in workers):
            assert time.monotonic() < deadline, "the killed workers did not stop"
            time.sleep(0.05)
        answer = http.get("/readyz")
        assert answer.status_code == 503, answer.text
        assert answer.json()["reason"].startswith("4 worker process(es) had stopped")
        assert http.get("/healthz").json() == {"status": "ok"}  # liveness only
        # The probe replaced them: the node is ready again and serves.
        assert http.get("/readyz").json() == {"status": "ready"}
        fresh = [w for w in _workers(node.proc.pid) if w not in workers]
        spawned = [w for w in fresh if b"spawn_main" in Path(f"/proc/{w}/cmdline").read_bytes()]
        assert len(spawned) == 4
        assert _searches_work(node.url, key, 3) == [200] * 3
        assert "Traceback" not in node.text(), node.text()


def _held_upload(url: str, key: str) -> socket.socket:
    """An upsert whose body never finishes: it holds its turn, and its worker, until closed."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        (
            f"POST /v1/collections/c/upsert HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        ).encode()
    )
    return sock


def _node_workers(pid: int) -> list[int]:
    """Every worker of the node, the fork server's children (replacements) included."""
    found = []
    for child in _children(pid):
        if b"multiprocessing.forkserver" in _cmdline(child):
            found += _children(child)  # forked by it: its command line is the fork server's
        elif b"multiprocessing.resource_tracker" not in _cmdline(child):
            found.append(child)
    return found


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_normal_worker_is_made_nicer_when_its_tenant_goes_over_its_share(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = create_key(url, "acme")
    flags = ("--no-access-log", "--max-concurrency", "1", "--tenant-concurrency", "1")
    with ServeNode.nigh_serve(url, *flags) as node, httpx.Client(base_url=node.url) as http:
        assert _searches_work(node.url, key, 1) == [200]  # the key is known to the node now
        own = _nice(node.proc.pid)
        before = _node_workers(node.proc.pid)
        assert sorted(_nice(w) - own for w in before) == [0, 10]
        (normal,) = [w for w in before if _nice(w) == own]
        first = _held_upload(node.url, key)
        try:
            # Within its share (alone, one request): it runs on the normal worker.
            _until(lambda: http.get("/readyz").status_code == 503, "the upload got no turn")
            time.sleep(0.2)  # granted: the worker is leased in the same step
            assert _nice(normal) == own
            second = _held_upload(node.url, key)  # over its share of one: the first is niced
            try:
                _until(lambda: _nice(normal) == own + 10, "the busy worker was not niced")
            finally:
                second.close()
        finally:
            first.close()
        # Given back, the niced worker is replaced by a fresh normal one.
        _until(lambda: normal not in _node_workers(node.proc.pid), "not replaced")
        _until(
            lambda: sorted(_nice(w) - own for w in _node_workers(node.proc.pid)) == [0, 10],
            "no fresh normal worker",
        )
        assert _searches_work(node.url, key, 3) == [200] * 3
        assert "Traceback" not in node.text(), node.text()


def test_a_request_admitted_before_its_key_was_known_is_niced_with_its_tenant(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    known, fresh = create_key(url, "acme"), create_key(url, "acme")
    flags = ("--no-access-log", "--max-concurrency", "2", "--tenant-concurrency", "1")
    with ServeNode.nigh_serve(url, *flags) as node, httpx.Client(base_url=node.url) as http:
        assert _searches_work(node.url, known, 1) == [200]  # only this key is known yet
        own = _nice(node.proc.pid)
        normal = [w for w in _node_workers(node.proc.pid) if _nice(w) == own]
        assert len(normal) == 2
        time.sleep(1.5)  # acme is no longer active: its next request starts within its share
        # A key never verified on this node spends the budget of unknown keys, where it is
        # within its share: a normal worker. Then one of acme's known key: the other one.
        uploads = [_held_upload(node.url, fresh)]
        try:
            time.sleep(0.3)
            uploads.append(_held_upload(node.url, known))
            _until(lambda: http.get("/readyz").status_code == 503, "the uploads got no turn")
            time.sleep(0.3)
            assert all(_nice(w) == own for w in normal)
            # acme over its share of one: both its requests are niced, the one that came
            # under the unknown key too (its key was verified as acme's when it started).
            uploads.append(_held_upload(node.url, known))
            _until(lambda: all(_nice(w) == own + 10 for w in normal), "not both niced")
        finally:
            for upload in uploads:
                upload.close()
        _until(
            lambda: sorted(_nice(w) - own for w in _node_workers(node.proc.pid)) == [0, 0, 10, 10],
            "the niced workers were not replaced",
        )
        assert _searches_work(node.url, known, 3) == [200] * 3
        assert "Traceback" not in node.text(), node.text()


def test_a_lease_takes_a_started_worker_before_one_still_starting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    nighdb.open_store(url).close()
    limits = ServiceLimits()
    # A process that never says it has started: a replacement still starting up (forked a
    # moment ago, its store being opened), first in the line of idle normal workers.
    parent_end, child_end = multiprocessing.Pipe()
    starting = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    starting.start()
    try:
        with WorkerPool(url, slots=2, limits=limits) as pool:
            slow = Worker(starting, parent_end, low=False)
            pool._idle[False].appendleft(slow)
            first = pool.lease(False)
            second = pool.lease(False)
            # Both started workers go first; each says so before its first request.
            assert slow not in (first, second)
            assert first.has_started() and second.has_started()
            with pytest.raises(UnauthenticatedError):  # and serves its pipe as before
                first.authenticate(None)
            last = pool.lease(False)
            assert last is slow and not slow.has_started()  # no other left: it waits its turn
    finally:
        starting.kill()
        starting.join()
        child_end.close()
        parent_end.close()
