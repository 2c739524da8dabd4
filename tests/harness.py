"""Child processes and ``nigh serve`` nodes for the tests: written once, always cleaned up.

Several tests need real OS processes: many writers on one database (conformance, PostgreSQL
nodes), crashes and outages (reliability), the real ``nigh serve`` on a loopback port.
They all use this module.

The parent side:

* ``Child``: one child process on the *gate* protocol: it opens its store, prints
  ``ready``, waits for one line on stdin (the start signal, so the children's work overlaps
  without any sleep), works, and prints its result as one JSON line, the last it prints.
  ``python_job(module, job)`` is the command of such a child written as a module that
  calls ``run_job`` (below); any other command that keeps the protocol works too.
* ``run_together(commands, timeout=...)``: start one child per command, release them
  together, return their results; every child still running is killed on the way out.
* ``ServeNode``: ``nigh serve`` (or any command printing its start line) on 127.0.0.1
  port 0, its port read from that start line, its whole output kept as a log.
* ``nigh(*args)`` runs the real ``nigh`` command and checks it succeeded; ``create_key``
  makes an API key with it. ``run_demo(store_url)`` runs ``examples/demo.py`` the same way.

The child side: ``run_job(kinds)`` is the whole ``main`` of a gate-protocol child.

Every class here is a ``ClosingContext``: ``with x:`` returns ``x`` and closes it.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from nighdb.store import ClosingContext, Store, open_store

__all__ = [
    "NIGH",
    "ROOT",
    "Child",
    "Children",
    "ServeNode",
    "create_key",
    "nigh",
    "python_job",
    "run_demo",
    "run_job",
    "run_together",
]

ROOT = Path(__file__).resolve().parents[1]
"""The repository: the children's working directory, so ``python -m tests.…`` finds them."""
NIGH = str(Path(sys.executable).with_name("nigh"))
"""The ``nigh`` executable of the interpreter running the tests."""


# -- the parent side: gate-protocol children -----------------------------------------------


def python_job(module: str, job: Mapping[str, Any]) -> list[str]:
    """The command ``python -m MODULE '<job as JSON>'`` (run in ``ROOT``)."""
    return [sys.executable, "-m", module, json.dumps(job)]


class Child(ClosingContext):
    """One gate-protocol child: ``wait_ready()``, ``go()``, then ``result()``."""

    def __init__(self, command: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            list(command),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @property
    def stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def wait_ready(self) -> None:
        line = self.stdout.readline()
        if line != "ready\n":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=60)
            raise AssertionError(f"child failed to start: {line!r}\n{err}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float) -> Any:
        """The child's last output line as JSON, once it exited 0 (its stderr otherwise)."""
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def close(self) -> None:
        """Kill the child if it still runs, reap it and close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class Children(ClosingContext):
    """A set of children released together; closing kills every one still alive."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, command: Sequence[str]) -> Child:
        child = Child(command)
        self.children.append(child)
        return child

    def run_together(self, commands: Sequence[Sequence[str]], timeout: float) -> list[Any]:
        started = [self.start(command) for command in commands]
        for child in started:
            child.wait_ready()
        for child in started:
            child.go()
        return [child.result(timeout) for child in started]

    def close(self) -> None:
        for child in self.children:
            child.close()


def run_together(commands: Sequence[Sequence[str]], *, timeout: float = 120) -> list[Any]:
    """Start one child per command, release them together, return their JSON results."""
    with Children() as children:
        return children.run_together(commands, timeout)


# -- the child side ------------------------------------------------------------------------


Job = Callable[[Store, dict[str, Any]], Any]


def run_job(kinds: Mapping[str, Job]) -> None:
    """The ``main`` of a gate-protocol child started with ``python_job``.

    Opens ``job["url"]`` (with ``job["options"]`` if any), prints ``ready``, waits for the
    start line, runs ``kinds[job["kind"]]`` and prints its result as one JSON line (nothing
    when it returns None: such a job prints as it goes). Any exception ends the process with
    a traceback on stderr and a non-zero exit code.
    """
    job = json.loads(sys.argv[1])
    store = open_store(job["url"], **job.get("options", {}))
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        result = kinds[job["kind"]](store, job)
    finally:
        store.close()
    if result is not None:
        print(json.dumps(result), flush=True)


# -- `nigh`, `nigh serve` and the demo ------------------------------------------------------


def nigh(*args: str) -> str:
    """The stdout of ``nigh ARGS``, which must succeed."""
    done = subprocess.run([NIGH, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_key(store_url: str, tenant: str | None) -> str:
    """A new API key made by ``nigh keys create``: of ``tenant``, or an admin key if None."""
    flags = ["--admin"] if tenant is None else ["--tenant", tenant]
    created = json.loads(nigh("keys", "create", *flags, "--json", "--store", store_url))
    return str(created["key"])


def run_demo(store_url: str, *extra: str) -> str:
    """The stdout of ``examples/demo.py --store STORE_URL EXTRA``, which must succeed."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--store", store_url, *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class ServeNode(ClosingContext):
    """``nigh serve`` (or any command printing the same start line) on a loopback port.

    The start line (``nigh serve: ... on http://127.0.0.1:PORT``, on stderr) gives the
    port; stdout and stderr are one log (``text()``), read all along so that a full pipe
    never blocks the server. Closing terminates the process (kills it if it hangs).
    """

    def __init__(self, command: list[str], *, start_timeout: float = 60) -> None:
        self.log: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one log: uvicorn's access log goes to stdout
            text=True,
        )
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()
        try:
            self.port = self._wait_for_port(start_timeout)
            self.url = f"http://127.0.0.1:{self.port}"
            with httpx.Client(base_url=self.url, timeout=10) as http:
                assert http.get("/healthz").json() == {"status": "ok"}
        except BaseException:
            self.close()
            raise

    @classmethod
    def nigh_serve(cls, store_url: str, *extra: str) -> ServeNode:
        return cls(
            [NIGH, "serve", "--store", store_url, "--host", "127.0.0.1", "--port", "0", *extra]
        )

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # keep reading: a full pipe would block the server
            self.log.append(line)
            self._lines.put(line)

    def _wait_for_port(self, within: float) -> int:
        deadline = time.monotonic() + within
        while True:
            try:
                line = self._lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("the node did not start:\n" + "".join(self.log)) from None
            if line.startswith("nigh serve:"):
                return int(line.rsplit(":", 1)[1])

    def text(self) -> str:
        return "".join(self.log)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self._drain.join(timeout=20)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
