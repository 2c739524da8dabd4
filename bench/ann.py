"""Approximate indexes: nighdb's SQLite HNSW (usearch) next to the systems people use.

``python -m bench.ann [--rows 100000] [--dims 384] [--queries 200] [--pg-url URL]
[--efs 40,64,128] [--skip-pg] [--skip-faiss] [--skip-sqlite-vec] [--no-wordnet] [--out FILE]``

On the synthetic data set (``bench.datasets``, clustered, cosine) and on the real WordNet
embeddings, with the same HNSW options everywhere (m = 16, ef_construction = 64):

* ``numpy``: exact brute force over the matrix in memory (the latency an index must beat);
* ``sqlite-vec``: sqlite-vec's ``vec0`` KNN (brute force: it has no approximate index);
* ``pgvector``: a raw psycopg table with an HNSW index (``hnsw.ef_search`` = ef);
* ``faiss``: FAISS ``IndexHNSWFlat`` in memory (inner product on unit vectors);
* ``nighdb``: ``open_store("sqlite:///…")``, ``create_index``, ``search(ef_search=ef)``:
  the whole library call (validation, transaction, catch-up check, float64 rescoring).

Figures: recall@10 against the exact ground truth and the median latency of single queries
at ef 40/64/128; nighdb's filtered recall at ~10% and ~1% (and that every answer has
``min(limit, matches)`` items); build time (nighdb vs pgvector); the graph's memory;
``search_many`` of 100 queries against 100 single calls (alternated seven times, medians).
The machine is shared and busy: compare ratios from one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import nighdb

from .datasets import Dataset, K, find_wordnet, item_id, prepare_synthetic, prepare_wordnet

M, EF_CONSTRUCTION = 16, 64
EFS = (40, 64, 128)
T, C = "bench", "items"

Search = Callable[[np.ndarray, int], Sequence[int]]


def log(line: str) -> None:
    print(time.strftime("%H:%M:%S"), line, flush=True)


def recall(found: Sequence[Sequence[int]], truth: np.ndarray) -> float:
    hits = total = 0
    for rows, true in zip(found, truth, strict=True):
        wanted = {int(r) for r in true if r >= 0}
        hits += len(wanted & {int(r) for r in rows})
        total += len(wanted)
    return hits / max(total, 1)


def measure(search: Search, queries: np.ndarray, ef: int) -> tuple[list[list[int]], float]:
    """Each query's rows and the median latency in milliseconds (one warm-up query)."""
    search(queries[0], ef)
    found, times = [], []
    for q in queries:
        start = time.perf_counter()
        rows = search(q, ef)
        times.append(time.perf_counter() - start)
        found.append(list(rows))
    return found, statistics.median(times) * 1000


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = action()
    return out, time.perf_counter() - start


# -- the systems ---------------------------------------------------------------------------


def numpy_system(base: np.ndarray) -> Search:
    def search(q: np.ndarray, ef: int) -> list[int]:
        scores = base @ q
        top = np.argpartition(-scores, K)[:K]
        return top[np.argsort(-scores[top])].tolist()

    return search


def sqlite_vec_system(base: np.ndarray, workdir: Path) -> tuple[Search, float]:
    import apsw
    import sqlite_vec

    conn = apsw.Connection(str(workdir / "vec.db"))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.execute(
        f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{base.shape[1]}] "
        "distance_metric=cosine)"
    )

    def load() -> None:
        with conn:
            conn.executemany(
                "INSERT INTO v (rowid, embedding) VALUES (?, ?)",
                ((i + 1, base[i].tobytes()) for i in range(len(base))),
            )

    _, seconds = timed(load)

    def search(q: np.ndarray, ef: int) -> list[int]:
        rows = conn.execute(
            "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance",
            (q.astype(np.float32).tobytes(), K),
        )
        return [int(r[0]) - 1 for r in rows]

    return search, seconds


def pgvector_system(base: np.ndarray, url: str) -> tuple[Search, float, int]:
    import psycopg
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    dims = base.shape[1]
    conn.execute("DROP TABLE IF EXISTS ann_items")
    conn.execute(f"CREATE TABLE ann_items (id bigint PRIMARY KEY, embedding vector({dims}))")
    with conn.cursor().copy(
        "COPY ann_items (id, embedding) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["bigint", "vector"])
        for i in range(len(base)):
            copy.write_row((i, base[i]))
    _, seconds = timed(
        lambda: conn.execute(
            "CREATE INDEX ann_hnsw ON ann_items USING hnsw (embedding vector_cosine_ops) "
            f"WITH (m = {M}, ef_construction = {EF_CONSTRUCTION})"
        )
    )
    size_row = conn.execute("SELECT pg_relation_size('ann_hnsw')").fetchone()
    current = {"ef": -1}

    def search(q: np.ndarray, ef: int) -> list[int]:
        if current["ef"] != ef:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            current["ef"] = ef
        rows = conn.execute(
            "SELECT id FROM ann_items ORDER BY embedding <=> %s LIMIT %s", (q, K)
        ).fetchall()
        return [int(r[0]) for r in rows]

    return search, seconds, int(size_row[0]) if size_row else 0


def faiss_system(base: np.ndarray) -> tuple[Search, float]:
    import faiss

    index = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    _, seconds = timed(lambda: index.add(np.ascontiguousarray(base, dtype=np.float32)))

    def search(q: np.ndarray, ef: int) -> list[int]:
        index.hnsw.efSearch = ef
        _, rows = index.search(q.reshape(1, -1).astype(np.float32), K)
        return [int(r) for r in rows[0] if r >= 0]

    return search, seconds


def nighdb_system(ds: Dataset, base: np.ndarray, workdir: Path) -> tuple[nighdb.Store, float]:
    store = nighdb.open_store(f"sqlite:///{workdir / 'nigh.db'}")
    store.ensure_collection(T, nighdb.Collection(C, base.shape[1], metric="cosine"))
    columns = {field: ds.column(field) for field in ds.fields}
    step = 10_000
    for start in range(0, len(base), step):
        stop = min(start + step, len(base))
        store.upsert(
            T,
            C,
            [
                {
                    "id": item_id(i),
                    "vector": base[i],
                    "metadata": {f: columns[f][i].item() for f in columns},
                }
                for i in range(start, stop)
            ],
        )
    _, seconds = timed(lambda: store.create_index(T, C, m=M, ef_construction=EF_CONSTRUCTION))
    return store, seconds


def nigh_search(store: nighdb.Store, flt: dict[str, Any] | None = None) -> Search:
    def search(q: np.ndarray, ef: int) -> list[int]:
        return [int(m.id) for m in store.search(T, C, q, limit=K, filter=flt, ef_search=ef)]

    return search


# -- one data set --------------------------------------------------------------------------


def run(ds: Dataset, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    base = np.ascontiguousarray(ds.base(mmap=False), dtype=np.float32)
    queries = ds.query_vectors()[: args.queries]
    truth = ds.truth("all")[: args.queries]
    out: dict[str, Any] = {
        "data": ds.name,
        "rows": ds.count,
        "dims": ds.dims,
        "queries": len(queries),
    }
    log(f"== {ds.name}: {ds.count:,} x {ds.dims}, {len(queries)} queries")

    systems: dict[str, Search] = {"numpy (exact)": numpy_system(base)}
    if not args.skip_sqlite_vec:
        search, seconds = sqlite_vec_system(base, workdir)
        systems["sqlite-vec vec0 (exact)"] = search
    if not args.skip_faiss:
        search, seconds = faiss_system(base)
        systems["FAISS HNSW"] = search
        out["faiss_build_s"] = seconds
    if not args.skip_pg:
        search, seconds, size = pgvector_system(base, args.pg_url)
        systems["pgvector HNSW (raw)"] = search
        out["pgvector_build_s"], out["pgvector_index_bytes"] = seconds, size
        log(f"  pgvector HNSW build {seconds:.1f} s")
    store, seconds = nighdb_system(ds, base, workdir)
    out["nighdb_build_s"] = seconds
    log(f"  nighdb create_index {seconds:.1f} s")
    systems["nighdb SQLite + HNSW"] = nigh_search(store)
    out["nighdb_graph_bytes"] = (workdir / "nigh.db-nighidx" / "1.usearch").stat().st_size

    table: dict[str, dict[str, Any]] = {}
    for name, search in systems.items():
        for ef in args.efs if "exact" not in name else args.efs[:1]:
            found, p50 = measure(search, queries, ef)
            row = {"recall": recall(found, truth), "p50_ms": p50}
            table[f"{name} @ef{ef}" if "exact" not in name else name] = row
            log(f"  {name:26s} ef {ef:4d}  recall@10 {row['recall']:.3f}  p50 {p50:.2f} ms")
    out["systems"] = table

    filtered: dict[str, Any] = {}
    for spec in ds.filters:
        ftruth = ds.truth(spec.name)[: args.queries]
        flt = spec.nigh()
        found, p50 = measure(nigh_search(store, flt), queries, 64)
        full = all(len(rows) == min(K, spec.matches) for rows in found)
        filtered[spec.name] = {
            "selectivity": spec.selectivity,
            "recall": recall(found, ftruth),
            "p50_ms": p50,
            "always_min_limit_matches": full,
        }
        log(
            f"  nighdb filter {spec.label():>6s}  recall@10 {recall(found, ftruth):.3f}  "
            f"p50 {p50:.2f} ms  full={full}"
        )
    out["filtered"] = filtered

    batch = queries[:100]
    store.search_many(T, C, batch[:2], limit=K)
    # Alternated seven times, medians: the shared machine's load drifts within seconds (with
    # three rounds, the 100 singles took 1.12 s in one run and 0.57 s a minute later).
    rounds = [
        (
            timed(lambda: store.search_many(T, C, batch, limit=K))[1],
            timed(lambda: [store.search(T, C, q, limit=K) for q in batch])[1],
        )
        for _ in range(7)
    ]
    many = statistics.median(r[0] for r in rounds)
    singles = statistics.median(r[1] for r in rounds)
    out["search_many_100_s"], out["singles_100_s"] = many, singles
    log(
        f"  search_many(100) {many * 1000:.0f} ms vs 100 singles {singles * 1000:.0f} ms: "
        f"{singles / many:.1f}x"
    )
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pg-url", default=None, help="an existing PostgreSQL (else embedded)")
    parser.add_argument(
        "--efs",
        type=lambda text: tuple(int(v) for v in text.split(",")),
        default=EFS,
        help="ef_search values, comma-separated (default 40,64,128)",
    )
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-faiss", action="store_true")
    parser.add_argument(
        "--skip-sqlite-vec", action="store_true", help="no vec0 scan (minutes per query at 1M)"
    )
    parser.add_argument("--no-wordnet", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)
    cache = Path(os.environ.get("NIGH_BENCH_CACHE", Path(tempfile.gettempdir()) / "nigh-bench"))
    cache.mkdir(parents=True, exist_ok=True)
    server = None
    if not args.skip_pg:
        from .pgserver import BenchServer

        server = BenchServer(args.pg_url)
        args.pg_url = server.url
    data = [prepare_synthetic(cache, args.rows, args.dims, log)]
    if not args.no_wordnet:
        data.append(prepare_wordnet(cache, find_wordnet(None), log))
    results = []
    try:
        for ds in data:
            with tempfile.TemporaryDirectory(prefix="nigh-ann-") as workdir:
                results.append(run(ds, args, Path(workdir)))
    finally:
        if server is not None:
            server.close()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
