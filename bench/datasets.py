"""The benchmark's data sets, prepared once into a cache directory that every child reads.

* ``wordnet``: 15,000 real sentence embeddings (384 dims, WordNet glosses) with real
  queries. Read from the ``wordnet-dev`` directory when one is available (float32, 500
  queries), else from the float16 copy shipped in ``examples/data`` (50 queries).
* ``synthetic``: seeded unit vectors with structure (a mixture of clusters on a
  48-dimensional subspace, plus isotropic noise and a shared offset), so that nearest
  neighbours exist the way they do in real embeddings; uniformly random unit vectors in
  384 dimensions have none, which makes any approximate index look broken.

Each data set has two metadata filters of controlled selectivity (~10% and ~1%), and exact
ground truth for the top ``K`` computed here in float64 (cosine; ties by lower row), with
and without each filter. Item ids are the zero-padded row number, so every system's
results map back to rows and string order equals row order.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "K",
    "Dataset",
    "FilterSpec",
    "item_id",
    "load",
    "prepare_synthetic",
    "prepare_wordnet",
    "size_label",
]

K = 10
"""Top-k of every search (``limit``)."""

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]

_REPO = Path(__file__).resolve().parent.parent
WORDNET_DIRS = (_REPO.parent / "shared" / "data" / "wordnet-dev", _REPO / "examples" / "data")


def item_id(row: int) -> str:
    """The id of row ``row``: zero-padded, so id order is row order."""
    return f"{row:08d}"


@dataclass(frozen=True)
class FilterSpec:
    """A one-field filter every system can express: ``field op value``, op ``eq`` or ``lt``."""

    name: str  # "f10", "f1"
    field: str
    op: str
    value: int | str
    matches: int
    selectivity: float

    def nigh(self) -> dict[str, Any]:
        return {self.field: self.value} if self.op == "eq" else {self.field: {"lt": self.value}}

    def sql(self, placeholder: str = "?") -> str:
        """The condition on a typed column named like the field."""
        return f"{self.field} {'=' if self.op == 'eq' else '<'} {placeholder}"

    def mask(self, column: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = (
            column == self.value if self.op == "eq" else column < self.value
        )
        return out

    def label(self) -> str:
        return f"{self.selectivity:.1%}"


@dataclass(frozen=True)
class Dataset:
    """A prepared data set in ``directory``: vectors, queries, metadata, ground truth."""

    name: str
    directory: Path
    count: int
    dims: int
    queries: int
    fields: dict[str, str]  # metadata field -> "int" | "text"
    filters: tuple[FilterSpec, ...]
    source: str

    def base(self, *, mmap: bool = True) -> F32:
        out: F32 = np.load(self.directory / "base.npy", mmap_mode="r" if mmap else None)
        return out

    def query_vectors(self) -> F32:
        out: F32 = np.load(self.directory / "queries.npy")
        return out

    def truth(self, which: str = "all") -> I32:
        """Rows of each query's exact top ``K`` (``which``: "all" or a filter's name);
        -1 pads rows when fewer than ``K`` items match."""
        out: I32 = np.load(self.directory / f"gt_{which}.npy")
        return out

    def column(self, field: str) -> npt.NDArray[Any]:
        out: npt.NDArray[Any] = np.load(self.directory / f"col_{field}.npy")
        return out

    def filter(self, name: str) -> FilterSpec:
        return next(f for f in self.filters if f.name == name)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["directory"] = str(self.directory)
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> Dataset:
        fields = dict(data)
        fields["directory"] = Path(fields["directory"])
        fields["filters"] = tuple(FilterSpec(**f) for f in fields["filters"])
        return Dataset(**fields)


def load(directory: Path) -> Dataset:
    return Dataset.from_json(json.loads((directory / "dataset.json").read_text()))


def size_label(count: int) -> str:
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count % 1000 == 0:
        return f"{count // 1000}k"
    return str(count)


# -- ground truth -----------------------------------------------------------------------


def exact_topk(
    base: F32, queries: F32, masks: dict[str, npt.NDArray[np.bool_]], k: int = K
) -> dict[str, I32]:
    """Exact cosine top-``k`` rows per query in float64 (ties: lower row first), for no
    filter ("all") and for each mask, in one pass over ``base`` in chunks."""
    q = queries.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    nq = q.shape[0]
    names = ["all", *masks]
    best_sim = {n: np.full((nq, 0), -np.inf) for n in names}
    best_row = {n: np.full((nq, 0), -1, dtype=np.int64) for n in names}
    step = 65536
    for start in range(0, base.shape[0], step):
        x = np.asarray(base[start : start + step], dtype=np.float64)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        sims = q @ x.T  # (nq, chunk)
        rows = np.arange(start, start + x.shape[0])
        for n in names:
            s = (
                sims
                if n == "all"
                else np.where(masks[n][start : start + x.shape[0]], sims, -np.inf)
            )
            kk = min(k, s.shape[1])
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            cand_sim = np.concatenate([best_sim[n], np.take_along_axis(s, part, 1)], axis=1)
            cand_row = np.concatenate([best_row[n], rows[part]], axis=1)
            # Order by similarity descending, then row ascending; keep k.
            order = np.lexsort((cand_row, -cand_sim), axis=1)[:, :k]
            best_sim[n] = np.take_along_axis(cand_sim, order, 1)
            best_row[n] = np.take_along_axis(cand_row, order, 1)
    out: dict[str, I32] = {}
    for n in names:
        rows_n = np.where(np.isfinite(best_sim[n]), best_row[n], -1)
        out[n] = rows_n.astype(np.int32)
    return out


def _write(
    directory: Path,
    *,
    name: str,
    base: F32,
    queries: F32,
    columns: dict[str, npt.NDArray[Any]],
    fields: dict[str, str],
    filters: list[tuple[str, str, str, int | str]],
    source: str,
    log: Callable[[str], None],
) -> Dataset:
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "base.npy", np.ascontiguousarray(base, dtype=np.float32))
    np.save(directory / "queries.npy", np.ascontiguousarray(queries, dtype=np.float32))
    for field, col in columns.items():
        np.save(directory / f"col_{field}.npy", col)
    specs: list[FilterSpec] = []
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for fname, field, op, value in filters:
        probe = FilterSpec(fname, field, op, value, 0, 0.0)
        mask = probe.mask(columns[field])
        matches = int(mask.sum())
        specs.append(FilterSpec(fname, field, op, value, matches, matches / len(mask)))
        masks[fname] = mask
    t = time.perf_counter()
    truth = exact_topk(np.load(directory / "base.npy", mmap_mode="r"), queries, masks)
    log(f"  exact ground truth (float64) in {time.perf_counter() - t:.1f} s")
    for which, rows in truth.items():
        np.save(directory / f"gt_{which}.npy", rows)
    ds = Dataset(
        name,
        directory,
        base.shape[0],
        base.shape[1],
        queries.shape[0],
        fields,
        tuple(specs),
        source,
    )
    (directory / "dataset.json").write_text(json.dumps(ds.to_json(), indent=1))
    return ds


# -- wordnet ----------------------------------------------------------------------------


def find_wordnet(explicit: Path | None) -> Path:
    for candidate in (explicit,) if explicit else WORDNET_DIRS:
        if candidate and (
            (candidate / "base.npy").exists() or (candidate / "wordnet-base.f16.npy").exists()
        ):
            return candidate
    raise SystemExit(f"no wordnet data found (looked in {explicit or WORDNET_DIRS})")


def prepare_wordnet(cache: Path, source_dir: Path, log: Callable[[str], None]) -> Dataset:
    """The real WordNet embeddings; filters ``pos = verb`` (~12%) and
    ``lexname = verb.motion`` (~1%)."""
    shipped = not (source_dir / "base.npy").exists()
    key = hashlib.sha1(f"v1:{source_dir.resolve()}".encode()).hexdigest()[:10]
    directory = cache / f"wordnet-{key}"
    if (directory / "dataset.json").exists():
        return load(directory)
    log(f"preparing wordnet from {source_dir}")
    if shipped:
        base = np.load(source_dir / "wordnet-base.f16.npy").astype(np.float32)
        queries = np.load(source_dir / "wordnet-queries.f16.npy").astype(np.float32)
        with gzip.open(source_dir / "wordnet-base.jsonl.gz", "rt", encoding="utf-8") as f:
            # nighdb's line format: the filterable fields are under "metadata".
            meta = [json.loads(line)["metadata"] for line in f]
        source = f"{source_dir} (float16 copy shipped in the repository; 50 queries)"
    else:
        base = np.load(source_dir / "base.npy")
        queries = np.load(source_dir / "queries.npy")
        with open(source_dir / "base_meta.jsonl", encoding="utf-8") as f:
            meta = [json.loads(line) for line in f]
        source = f"{source_dir} (float32, real queries)"
    columns = {
        "pos": np.array([m["pos"] for m in meta]),
        "lexname": np.array([m["lexname"] for m in meta]),
    }
    ds = _write(
        directory,
        name="wordnet",
        base=base,
        queries=queries,
        columns=columns,
        fields={"pos": "text", "lexname": "text"},
        filters=[("f10", "pos", "eq", "verb"), ("f1", "lexname", "eq", "verb.motion")],
        source=source,
        log=log,
    )
    if not shipped:
        _check_against_published(ds, source_dir, log)
    return ds


def _check_against_published(ds: Dataset, source_dir: Path, log: Callable[[str], None]) -> None:
    """Our ground truth must agree with the data set's own (computed independently)."""
    for ours, theirs in (("all", "gt_top100.npy"), ("f10", "gt_filtered_top100.npy")):
        published = np.load(source_dir / theirs)[:, :K]
        pairs = zip(ds.truth(ours), published, strict=True)
        agree = float(np.mean([len(set(a) & set(b)) / K for a, b in pairs]))
        log(f"  ground truth '{ours}' agrees with {theirs}: {agree:.4f}")
        if agree < 0.999:
            raise SystemExit(f"ground truth disagrees with {theirs} ({agree:.4f})")


# -- synthetic --------------------------------------------------------------------------

SYNTH_SEED = 20240611
SYNTH_QUERIES = 500


def synthetic_vectors(count: int, dims: int, seed: int, *, clusters: int, rows_seed: int) -> F32:
    """``count`` unit vectors drawn from the mixture that ``seed`` and ``clusters`` define
    (``rows_seed`` picks the draw: base rows and queries share the mixture)."""
    model = np.random.default_rng(seed)
    latent = 48
    basis = model.standard_normal((latent, dims)).astype(np.float32) / np.sqrt(latent)
    centers = model.standard_normal((clusters, latent)).astype(np.float32)
    offset = model.standard_normal(dims).astype(np.float32)
    offset /= np.linalg.norm(offset)
    rng = np.random.default_rng(rows_seed)
    out = np.empty((count, dims), dtype=np.float32)
    step = 100_000
    for start in range(0, count, step):
        m = min(step, count - start)
        z = centers[rng.integers(0, clusters, m)]
        z = z + rng.standard_normal((m, latent), dtype=np.float32)
        x = z @ basis
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x += 0.4 * rng.standard_normal((m, dims), dtype=np.float32) / np.sqrt(dims)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x += 0.25 * offset
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def prepare_synthetic(
    cache: Path, count: int, dims: int, log: Callable[[str], None], seed: int = SYNTH_SEED
) -> Dataset:
    """Seeded unit vectors; metadata ``b`` = a seeded permutation of the rows modulo 100,
    filtered by ``b < 10`` (10%) and ``b = 42`` (1%)."""
    name = f"synthetic-{size_label(count)}"
    directory = cache / f"{name}-{dims}d-s{seed}-v1"
    if (directory / "dataset.json").exists():
        return load(directory)
    log(f"preparing {name} ({count:,} x {dims}, seed {seed})")
    t = time.perf_counter()
    clusters = max(64, count // 50)
    base = synthetic_vectors(count, dims, seed, clusters=clusters, rows_seed=seed + 1)
    queries = synthetic_vectors(SYNTH_QUERIES, dims, seed, clusters=clusters, rows_seed=seed + 2)
    b = (np.random.default_rng(seed + 3).permutation(count) % 100).astype(np.int64)
    log(f"  generated in {time.perf_counter() - t:.1f} s")
    return _write(
        directory,
        name=name,
        base=base,
        queries=queries,
        columns={"b": b},
        fields={"b": "int"},
        filters=[("f10", "b", "lt", 10), ("f1", "b", "eq", 42)],
        source=f"synthetic (bench.datasets.synthetic_vectors, seed {seed})",
        log=log,
    )
