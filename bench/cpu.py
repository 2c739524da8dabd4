"""CPU seconds by process tree, from ``/proc`` (Linux): where a load run's CPU goes.

``bench.load`` samples the driver (itself), the ``nigh serve`` process, its worker
processes split by priority (``nice``), and the PostgreSQL server's processes before and
after each measurement, so the figures say which of them the 2 cores were spent on.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CpuSample", "children", "cpu_seconds", "nice", "postmaster_of", "tree"]

_TICK = os.sysconf("SC_CLK_TCK")

CpuSample = dict[str, float]


def _stat(pid: int) -> list[str]:
    # The command name (field 2) may hold spaces: count from its closing parenthesis.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 once it is gone)."""
    try:
        fields = _stat(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def nice(pid: int) -> int:
    return int(_stat(pid)[16])


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except FileNotFoundError:
        pass
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def postmaster_of(backend_pid: int) -> int:
    """The PostgreSQL server process that forked ``backend_pid`` (a connection's backend)."""
    return int(_stat(backend_pid)[1])
