"""Request work in worker processes, so that one tenant's heavy requests cannot stall another's.

Why processes: the work of a request is CPU-bound Python (parsing bodies, building and
encoding matches). In one process, a tenant flooding the node with large ``search_many``
calls holds the GIL for most of every millisecond and triggers full garbage collections of
100 to 300 ms, and every other tenant's request waits for them, however fairly the
scheduler hands out turns: measured, a small search went from 4 ms to 800 ms at p99
(docs/reliability.md, "The noisy neighbour"). Processes share no GIL and no heap.

The layout. The parent process (uvicorn's event loop) keeps everything cheap: admission by
the fair scheduler (``fairness.py``), reading bodies, writing answers. Each request that is
granted a turn leases one worker process for that turn and sends it two messages: verify
the key, then run the route (``execute.run_route``, the same function the threads mode
runs). The thread that waits for the answer only waits on a pipe.

Two sets of ``slots`` workers each (``slots`` is ``max_concurrency``, so a worker of either
kind is always free for a request that holds a turn):

* **normal** workers run at the parent's priority: requests of a tenant within its running
  budget (``tenant_concurrency``);
* **low** workers run ``LOW_NICE`` steps nicer: requests of a tenant over its share (more
  requests in the node than it may run at once now: its ``tenant_concurrency``, or its
  share of the cores while other tenants are active; or it was queueing within the last
  ``ACTIVE_WINDOW``: ``Turn.over_share``), so the operating system
  gives every other tenant's CPU work precedence over the flood. A process without
  privileges cannot raise its priority again, hence two fixed sets rather than one set
  that changes priority per request.

A request that started on a normal worker while its tenant was within its share is
**demoted** when the tenant goes over it (``demote``: the parent makes that worker
``LOW_NICE`` steps nicer mid-request). A flood starts with one request, which is within the
share; without this, that first request, seconds of work for a large ``search_many``, ran at
normal priority next to the other tenants' while the rest of the flood queued behind it. A
demoted worker cannot be made normal again, so when it is given back it exits and a fresh
normal worker takes its place, forked by multiprocessing's fork server (started with the
pool, this module preloaded: a fork costs milliseconds, where spawning an interpreter costs
most of a second of CPU at normal priority). A worker tells the parent when it has started
(and, a replacement, opened its store), and a lease takes a started worker before one still
starting, so that a request does not wait for a replacement's start-up.

Each worker opens its own store: SQLite with the default cache budget split between the
workers, PostgreSQL with a pool of one connection (a worker runs one request at a time).
Workers are forked when the node starts, before the parent opens its store or starts any
thread, so they inherit imported code and nothing else. A worker exits when its pipe
closes (the parent stopped, or died). A worker that dies is a 503 ``unavailable`` for the
request it was running; a fresh process (spawned, not forked: the parent has threads by
then) takes its place. Messages are pickles between the parent and its own children only.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import signal
from collections import deque
from collections.abc import Mapping
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from ..errors import NighError, StoreUnavailableError
from ..keys import KeyRegistry
from ..store import Store, backend_module, open_store
from .auth import Principal, authenticate
from .execute import run_route
from .limits import ServiceLimits
from .routes import ROUTES, Call

__all__ = ["LOW_NICE", "Worker", "WorkerPool", "worker_store_options"]

log = logging.getLogger("nighdb.service")

LOW_NICE = 10
"""How much nicer the low-priority workers run (``os.nice``): at 10 the kernel weighs a
normal process about ten times heavier, and wakes it in front of them."""

_CACHE_BUDGET = 512 * 1024 * 1024
"""The SQLite store's default ``cache_bytes``, shared out between the workers (the service
reaches backends only through ``open_store``, so the figure is repeated here)."""

_CONTEXTS: dict[str, ForkContext | SpawnContext | ForkServerContext] = {
    "fork": multiprocessing.get_context("fork"),
    "spawn": multiprocessing.get_context("spawn"),
    "forkserver": multiprocessing.get_context("forkserver"),
}

_STARTED = "started"
"""A worker's first message to the parent: it is serving its pipe (and its store is open,
when started warm)."""

_PARENT_ENDS: list[Connection] = []
"""The parent's ends of every worker pipe: a forked worker closes its copies, so that a
worker sees its own pipe close when the parent goes, not when the last sibling does."""


def worker_store_options(url: str, workers: int) -> dict[str, Any]:
    """The store options of one worker among ``workers``: its share of the cache, one
    connection."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("postgresql", "postgres"):
        return {"pool_min_size": 1, "pool_max_size": 1}
    if scheme in ("", "sqlite"):
        return {"cache_bytes": max(1, _CACHE_BUDGET // workers)}
    return {}


class Worker:
    """One worker process and the parent's end of its pipe. Used by one request at a time."""

    def __init__(self, process: BaseProcess, conn: Connection, low: bool) -> None:
        self.process = process
        self.conn = conn
        self.low = low
        self.dead = False
        self.demoted = False  # a normal worker made nicer mid-request: replaced when given back
        self.started = False  # its first message (``_STARTED``) read: it is serving its pipe

    def has_started(self) -> bool:
        """Whether the process is serving its pipe yet; does not wait. A worker says so once
        it has started (and opened its store, when started warm)."""
        if not self.started and not self.dead:
            try:
                if self.conn.poll():
                    self._take_started()
            except (EOFError, OSError):  # died while starting: lease replaces it
                return False
        return self.started

    def _take_started(self) -> None:
        kind, _ = pickle.loads(self.conn.recv_bytes())
        assert kind == _STARTED
        self.started = True

    def authenticate(self, header: str | None) -> Principal:
        """``auth.authenticate`` in the worker. Blocking: call it from a thread."""
        principal = self._call(("auth", header))
        assert isinstance(principal, Principal)
        return principal

    def run(
        self,
        route: int,
        principal: Principal,
        tenant: str,
        name: str,
        query: dict[str, str],
        body: bytes,
    ) -> tuple[int, bytes]:
        """``ROUTES[route]`` on this request, in the worker. Blocking: call it from a thread."""
        answer = self._call(("run", (route, principal, tenant, name, query, body)))
        assert isinstance(answer, tuple)
        return answer

    def _call(self, message: tuple[str, Any]) -> Any:
        if self.dead:
            raise _worker_gone()
        try:
            if not self.started:  # leased while still starting: wait for it
                self._take_started()
            self.conn.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
            outcome, value = pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.dead = True
            raise _worker_gone() from None
        if outcome == "error":
            raise value
        return value


def _worker_gone() -> StoreUnavailableError:
    return StoreUnavailableError(
        "a worker process of this node stopped while serving the request; retry it"
    )


class WorkerPool:
    """``slots`` normal and ``slots`` low-priority workers over the store at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        slots: int,
        limits: ServiceLimits,
        low_nice: int = LOW_NICE,
        store_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._url = url
        self._limits = limits
        self._low_nice = low_nice
        # The deployment's options (read replicas, contract §17) plus each worker's share.
        self._options = {**(store_options or {}), **worker_store_options(url, 2 * slots)}
        self._idle: dict[bool, deque[Worker]] = {False: deque(), True: deque()}
        self._all: list[Worker] = []
        for low in (False, True):
            for _ in range(slots):
                self._start(low, "fork")
        # Replacements of demoted workers are forked by multiprocessing's fork server, which
        # imports this module once, now, at the node's start: a fork costs milliseconds where
        # spawning a fresh interpreter costs most of a second of CPU at normal priority. The
        # store's backend too: a replacement imported it on opening its store, 137 ms of CPU
        # at normal priority for PostgreSQL's (of about 0.2 s for its whole start), and under
        # a flood the replacements start while other tenants search.
        backend = backend_module(url)
        multiprocessing.set_forkserver_preload([__name__, *([backend] if backend else [])])
        multiprocessing.forkserver.ensure_running()

    def _start(self, low: bool, method: str, *, warm: bool = False) -> Worker:
        parent_end, child_end = multiprocessing.Pipe()
        nice = self._low_nice if low else 0
        process = _CONTEXTS[method].Process(
            target=_work,
            args=(child_end, self._url, self._options, self._limits, nice, warm),
            name=f"nigh serve worker ({'low' if low else 'normal'} priority)",
            daemon=True,
        )
        _PARENT_ENDS.append(parent_end)  # before the fork: the worker closes its copy too
        process.start()
        child_end.close()
        worker = Worker(process, parent_end, low)
        self._all.append(worker)
        self._idle[low].append(worker)
        return worker

    def lease(self, low: bool) -> Worker:
        """A free worker of the asked priority (one exists for every granted turn)."""
        idle = self._idle[low]
        if not idle:  # more turns than slots: a bug in the caller, not a load condition
            raise StoreUnavailableError("no free worker process on this node; retry")
        # A worker that has not started yet (a replacement forked a moment ago, whose start
        # takes tens of milliseconds on busy cores, over a hundred measured) would make the
        # request wait for it: another tenant's small search, most often, since a flooding
        # tenant runs on the low workers. Take one that has started, if there is one.
        worker = next((w for w in idle if w.has_started()), idle[0])
        idle.remove(worker)
        if not worker.process.is_alive():  # died while idle (killed, say): replace it first
            self._retire(worker)
            replacement = self._start(low, "spawn")
            self._idle[low].remove(replacement)
            return replacement
        return worker

    def demote(self, worker: Worker) -> None:
        """Run the request ``worker`` is busy with at the low priority from now on: its
        tenant went over its share while it ran. A process without privileges cannot raise
        its priority again, so the worker is replaced when it is given back."""
        if worker.low or worker.demoted or worker.dead or worker.process.pid is None:
            return
        nice = os.getpriority(os.PRIO_PROCESS, 0) + self._low_nice
        try:
            os.setpriority(os.PRIO_PROCESS, worker.process.pid, min(nice, 19))
        except OSError:  # gone meanwhile: give_back replaces it
            return
        worker.demoted = True

    def give_back(self, worker: Worker) -> None:
        """The request is done with ``worker``; a dead one is replaced by a fresh process,
        a demoted one by a fresh normal one."""
        if worker.dead or not worker.process.is_alive():
            self._retire(worker)
            self._start(worker.low, "spawn")
            return
        if worker.demoted:
            self._retire(worker)  # its pipe closes: it exits
            # Warm: the database is up (the demoted worker just served), and the replacement's
            # first request is often another tenant's, which must not wait for a connection.
            self._start(worker.low, "forkserver", warm=True)
            return
        self._idle[worker.low].append(worker)

    def replace_stopped(self) -> int:
        """How many workers have stopped (killed, crashed at start): a cheap liveness check
        for ``/readyz``. Idle ones are replaced at once, as their next lease would; a busy one
        is replaced when its request gives it back."""
        stopped = 0
        for low, idle in self._idle.items():
            for worker in list(idle):
                if not worker.process.is_alive():
                    stopped += 1
                    idle.remove(worker)
                    self._retire(worker)
                    self._start(low, "spawn")
        idle_now = {id(w) for queue in self._idle.values() for w in queue}
        busy = [w for w in self._all if id(w) not in idle_now]
        return stopped + sum(1 for w in busy if not w.process.is_alive())

    def _retire(self, worker: Worker) -> None:
        worker.dead = True
        self._all.remove(worker)
        if worker.conn in _PARENT_ENDS:
            _PARENT_ENDS.remove(worker.conn)
        worker.conn.close()
        worker.process.join(timeout=1)

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._all if w.process.pid is not None]

    def close(self) -> None:
        """Stop every worker: its pipe closes, it finishes and exits."""
        for worker in list(self._all):
            worker.conn.close()
        for worker in list(self._all):
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=10)
            self._all.remove(worker)
            if worker.conn in _PARENT_ENDS:
                _PARENT_ENDS.remove(worker.conn)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _work(
    conn: Connection,
    url: str,
    options: dict[str, Any],
    limits: ServiceLimits,
    nice: int,
    warm: bool = False,
) -> None:
    """A worker process: answer the parent's messages until its pipe closes; ``warm``, its
    store opened before the first message rather than on it."""
    for inherited in _PARENT_ENDS:
        inherited.close()
    _PARENT_ENDS.clear()
    # Ctrl-C reaches the whole process group: the parent stops, and its workers with it
    # (their pipes close), without a KeyboardInterrupt in the middle of a request.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        os.nice(nice)
    store: Store | None = None
    if warm:
        with contextlib.suppress(NighError):  # opened on the first request instead
            store = open_store(url, create=False, **options)
    try:
        try:
            conn.send_bytes(pickle.dumps((_STARTED, None), pickle.HIGHEST_PROTOCOL))
        except OSError:
            return
        while True:
            try:
                message = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                return
            if store is None:
                # Opened on the first request, and again after a failure: a database that
                # is down is a 503 for the request, not a dead worker.
                try:
                    store = open_store(url, create=False, **options)
                except NighError as err:
                    answer: tuple[str, Any] = ("error", err)
            if store is not None:
                answer = _answer(store, limits, message)
            try:
                conn.send_bytes(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
            except OSError:
                return
    finally:
        if store is not None:
            store.close()


def _answer(store: Store, limits: ServiceLimits, message: tuple[str, Any]) -> tuple[str, Any]:
    kind, value = message
    try:
        if kind == "auth":
            assert isinstance(store, KeyRegistry)  # the parent's create_app checked the kind
            return "ok", authenticate(store, value)
        route, principal, tenant, name, query, body = value
        spec = ROUTES[route]
        call = Call(store, limits, principal, tenant, name, query, body, spec.existence_first)
        return "ok", run_route(spec, call)
    except NighError as err:
        return "error", err
    except Exception:
        log.exception("internal error in a worker process on %s", kind)
        return "error", NighError("the service failed unexpectedly; the details are in its log")
