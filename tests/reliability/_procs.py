"""Child processes and ``nigh serve`` nodes for the reliability tests, always cleaned up.

``Children`` starts ``tests.reliability._child`` jobs and kills whatever is still running on
exit. ``ServeNode`` is a real ``nigh serve`` on 127.0.0.1 (port 0, the port read from its
start line on stderr) whose whole output (stderr and stdout) is kept, so tests can read its log.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
NIGH = str(Path(sys.executable).with_name("nigh"))


class Child:
    """One ``_child`` process: ``ready`` handshake, then a start line on stdin."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._child", json.dumps(job)],
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
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class Children:
    """A set of children released together; every one is killed on exit if still alive."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, job: dict[str, Any]) -> Child:
        child = Child(job)
        self.children.append(child)
        return child

    def run_together(self, jobs: list[dict[str, Any]], timeout: float) -> list[Any]:
        started = [self.start(job) for job in jobs]
        for child in started:
            child.wait_ready()
        for child in started:
            child.go()
        return [child.result(timeout) for child in started]

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for child in self.children:
            child.kill()


def nigh(*args: str) -> str:
    done = subprocess.run([NIGH, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_key(store_url: str, tenant: str | None) -> str:
    flags = ["--admin"] if tenant is None else ["--tenant", tenant]
    created = json.loads(nigh("keys", "create", *flags, "--json", "--store", store_url))
    return str(created["key"])


class ServeNode:
    """``nigh serve`` (or any command printing the same start line) on a loopback port."""

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

    def __enter__(self) -> ServeNode:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
