"""One collection's HNSW graph (usearch) and its file beside the database.

The graph is derived data: it maps item ``rowid`` -> float32 vector, and knows which
collection version its contents reflect. ``ann_state`` decides when to build, load, catch
up and save it; ``ann_search`` asks it for candidates and rescores them exactly.

usearch lives in the ``[ann]`` extra and is imported only here, on first use, so the core
install stays small and an ``import nighdb`` never loads it. Files are written to a
temporary name and renamed, so a reader (another process) never loads half a file.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import InvalidArgumentError
from ...indexes import IndexOptions
from ...models import F32

__all__ = ["DEFAULT_EF_SEARCH", "HnswGraph", "index_dir", "index_path", "require_usearch"]

DEFAULT_EF_SEARCH = 64
"""usearch's own default beam width; recall at 100k vectors is measured in docs/benchmarks.md."""

# nighdb metric -> usearch metric: cosine distance, squared L2 (same order as L2; exact
# float64 distances are computed afterwards), and inner product (1 - a.b, same order as -a.b).
_METRICS = {"cosine": "cos", "l2": "l2sq", "ip": "ip"}
# How the graph stores its vectors. It only proposes candidates, which are rescored exactly
# from the float32 rows, so a cosine graph keeps unit vectors as int8 (usearch scales them
# by 127): at 100k x 384 that built 2.7-4x faster than float32 and takes a quarter of the
# memory, with the same recall after rescoring (docs/benchmarks.md). L2 and inner product
# depend on lengths that int8's [-1, 1] range would clip, so those graphs stay float32.
_DTYPES = {"cosine": "i8", "l2": "f32", "ip": "f32"}

I64 = npt.NDArray[np.int64]


def require_usearch() -> Any:
    """The ``usearch.index`` module, or a coded error that names the extra to install."""
    try:
        return importlib.import_module("usearch.index")
    except ImportError as exc:
        raise InvalidArgumentError(
            "approximate indexes on the SQLite backend need the usearch package; install "
            "the extra: pip install 'nighdb[ann]' (searches stay exact without an index)"
        ) from exc


def index_dir(db_path: str) -> Path:
    """``<db>-nighidx/``: the folder of a database's index files, beside it."""
    return Path(f"{db_path}-nighidx")


def index_path(db_path: str, collection_id: int) -> Path:
    """A collection's index file, named from its integer id (never from user text)."""
    return index_dir(db_path) / f"{int(collection_id)}.usearch"


class HnswGraph:
    """A usearch index over one collection's rows, keyed by rowid, with the collection
    version it reflects. ``lock`` guards changes; searches of a caught-up graph share it."""

    def __init__(self, index: Any, generation: int, version: int, metric: str) -> None:
        self.index = index
        self.generation = generation  # the nigh_indexes row id: a rebuild gets a new one
        self.version = version  # the collection version whose rows the graph holds
        # Cosine graphs hold unit vectors (and are asked with unit queries): the int8 copy
        # needs them, and the direction is all a cosine neighbour depends on.
        self.unit = metric == "cosine"
        self.lock = threading.Lock()

    @staticmethod
    def empty(dims: int, metric: str, options: IndexOptions, generation: int) -> HnswGraph:
        module = require_usearch()
        index = module.Index(
            ndim=dims,
            metric=_METRICS[metric],
            dtype=_DTYPES[metric],
            connectivity=options.m,
            expansion_add=options.ef_construction,
            expansion_search=DEFAULT_EF_SEARCH,
        )
        return HnswGraph(index, generation, 0, metric)

    @staticmethod
    def load(path: Path, generation: int, version: int, metric: str) -> HnswGraph | None:
        """The graph saved at ``path``, or None when it is missing or unreadable (then the
        caller rebuilds it from the items table: the file is never trusted blindly)."""
        module = require_usearch()
        try:
            index = module.Index.restore(os.fspath(path))
        except (OSError, RuntimeError, ValueError):
            return None
        return None if index is None else HnswGraph(index, generation, version, metric)

    def __len__(self) -> int:
        return len(self.index)

    def keys(self) -> I64:
        return np.asarray(self.index.keys[:], dtype=np.int64)

    def add(self, rowids: I64, vectors: F32) -> None:
        """Add rows the graph does not hold yet (a build): all of them in one usearch call."""
        if len(rowids):
            self.index.add(rowids.astype(np.uint64), self._prepared(vectors))

    def put(self, rowids: I64, vectors: F32) -> None:
        """Add rows, replacing those already present (an upsert keeps its rowid)."""
        if not len(rowids):
            return
        keys = rowids.astype(np.uint64)
        present = np.asarray(self.index.contains(keys), dtype=bool).reshape(-1)
        if present.any():
            self.index.remove(keys[present])
        self.index.add(keys, self._prepared(vectors))

    def remove(self, rowids: I64) -> None:
        if len(rowids):
            self.index.remove(rowids.astype(np.uint64))

    def candidates(self, queries: F32, count: int, ef_search: int) -> tuple[I64, I64]:
        """Up to ``count`` nearest rowids per query (``keys[q, :counts[q]]`` are valid)."""
        count = max(1, min(count, len(self)))
        self.index.expansion_search = max(ef_search, count)
        found = self.index.search(self._prepared(queries), count)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(queries.shape[0], -1)
        # One query comes back as ``Matches`` (already cut to its count), several as
        # ``BatchMatches`` (padded rows, with ``counts``).
        counts = np.asarray(getattr(found, "counts", [keys.shape[1]]), dtype=np.int64)
        return keys, counts

    def _prepared(self, vectors: F32) -> F32:
        """Contiguous float32, scaled to unit length for a cosine graph (a zero vector, which
        has no direction, stays zero)."""
        out = np.ascontiguousarray(vectors, dtype=np.float32)
        if not self.unit:
            return out
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: F32 = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return unit

    def memory_bytes(self) -> int:
        return int(self.index.memory_usage)

    def save(self, path: Path) -> None:
        """Write the file atomically: a temporary name in the same folder, then rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.index.save(os.fspath(temporary))
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
