"""What a benchmarked system is: named phases, each run in a fresh child process.

State passes between phases through the system's work directory (SQLite files) or the
benchmark's PostgreSQL database, never through memory, so each phase's peak RSS is its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..datasets import Dataset
from ..measure import Budget

__all__ = ["Context", "System", "batches", "file_bytes"]

F32 = npt.NDArray[np.float32]


@dataclass
class Context:
    ds: Dataset
    workdir: Path
    pg_url: str | None
    budget: Budget
    batch: int = 10_000
    ef_search: tuple[int, ...] = (32, 64, 128)
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    latency_only: bool = False
    log: Callable[[str], None] = field(default=lambda _: None)

    def postgres(self) -> str:
        if not self.pg_url:
            raise RuntimeError("this system needs PostgreSQL (no URL given)")
        return self.pg_url

    def table_suffix(self) -> str:
        """A per-data-set suffix for raw table names (letters, digits, underscores)."""
        return "".join(c if c.isalnum() else "_" for c in self.ds.name.lower())


class System(Protocol):
    key: str  # command-line name
    label: str  # report name
    needs_postgres: bool

    def phases(self, ctx: Context) -> list[str]: ...

    def run(self, phase: str, ctx: Context) -> dict[str, Any]: ...


def batches(ds: Dataset, size: int) -> Iterator[tuple[int, F32, dict[str, list[Any]]]]:
    """The base rows in batches: (first row, vectors, metadata columns as Python lists).

    Reading a batch from the memory-mapped file happens here, before the caller's clock
    would normally start; callers time the whole loop anyway (reading is the same for all).
    """
    base = ds.base(mmap=True)
    columns = {f: ds.column(f) for f in ds.fields}
    for start in range(0, ds.count, size):
        stop = min(start + size, ds.count)
        vectors = np.ascontiguousarray(base[start:stop], dtype=np.float32)
        yield start, vectors, {f: c[start:stop].tolist() for f, c in columns.items()}


def file_bytes(*paths: Path) -> int:
    return sum(os.path.getsize(p) for p in paths if p.exists())
