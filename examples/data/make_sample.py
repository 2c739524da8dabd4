"""Derive the demo data in this directory from the wordnet-dev dataset.

The demo (and the benchmarks and tests that reuse its data) must run from a fresh clone, so
a compact copy lives in the repository: the 15,000 base vectors as float16 (half the bytes
of float32; the loader converts back to float32) with their metadata as gzip-compressed
JSONL, and the first 50 query vectors with theirs. Each JSONL line is in nighdb's line format
(``{"id", "metadata": {...}, "text"}``, the sidecar of a ``.npy``), so ``nigh import`` reads
the pair as it is. The output is byte-for-byte reproducible (gzip header time fixed at 0, keys
in a fixed order).

    .venv/bin/python examples/data/make_sample.py [--source DIR] [--queries N]
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "data" / "wordnet-dev"
METADATA = ("pos", "lexname", "lemma", "len")
"""The filterable fields kept (in this order) under ``metadata``; ``lexfile`` is dropped."""


def to_line(row: dict[str, Any]) -> dict[str, Any]:
    """A source row as a sidecar line: id, the filterable fields as metadata, the gloss."""
    return {"id": row["id"], "metadata": {k: row[k] for k in METADATA}, "text": row["text"]}


def read_meta(path: Path) -> list[dict[str, Any]]:
    """One sidecar line per source line, in a fixed key order."""
    with path.open(encoding="utf-8") as f:
        return [to_line(json.loads(line)) for line in f if line.strip()]


def write_vectors(path: Path, vectors: np.ndarray[Any, Any]) -> None:
    """Save as little-endian float16 after checking that nothing overflows or vanishes."""
    half = vectors.astype("<f2")
    if not np.isfinite(half).all():
        raise SystemExit(f"{path.name}: float16 overflow")
    if (np.linalg.norm(half.astype(np.float32), axis=1) == 0).any():
        raise SystemExit(f"{path.name}: a vector became zero in float16")
    np.save(path, half)


def write_jsonl_gz(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Gzip JSONL with mtime 0 and no file name in the header, so reruns are identical."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
    ):
        for row in rows:
            gz.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--queries", type=int, default=50, help="first N queries (default 50)")
    args = parser.parse_args()
    src: Path = args.source

    base = np.load(src / "base.npy")
    base_meta = read_meta(src / "base_meta.jsonl")
    queries = np.load(src / "queries.npy")[: args.queries]
    query_meta = read_meta(src / "query_meta.jsonl")[: args.queries]
    if len(base) != len(base_meta) or len(queries) != len(query_meta):
        raise SystemExit("vector and metadata row counts differ")

    write_vectors(HERE / "wordnet-base.f16.npy", base)
    write_jsonl_gz(HERE / "wordnet-base.jsonl.gz", base_meta)
    write_vectors(HERE / "wordnet-queries.f16.npy", queries)
    write_jsonl_gz(HERE / "wordnet-queries.jsonl.gz", query_meta)

    for name in sorted(p.name for p in HERE.iterdir() if p.name.startswith("wordnet-")):
        print(f"{name:28} {(HERE / name).stat().st_size:>12,} bytes")


if __name__ == "__main__":
    main()
