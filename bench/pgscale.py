"""PostgreSQL at scale (contract §17): nighdb against the raw SQL an application would write.

``python -m bench.pgscale [--rows 100000] [--dims 384] [--queries 100] [--pg-url URL]``
on an embedded server with the benchmark's durable settings (``bench/pgserver.py``) unless
``--pg-url``. Seeded unit vectors, in one run:

* **ingest**: ``rows`` items in batches of 1,000 and of 10,000, each batch one transaction.
  Raw: binary ``COPY`` straight into ``(id text PRIMARY KEY, embedding vector(d), metadata
  jsonb)``; nighdb: ``upsert`` of the same batches (with metadata) into a new collection.
* **exact search**: the natural raw query ``SELECT id … ORDER BY embedding <=> q LIMIT 10``
  against ``store.search(…, limit=10)`` on the same rows, alternating, the median of
  ``queries`` each. Both may use the server's parallel workers (its default settings).
* **search_many through HNSW**: after ``create_index`` (m 16, ef_construction 64), one
  ``search_many`` of ``queries`` queries against as many single ``search`` calls.

Each figure is printed with its ratio; a ratio above 1 is nighdb's speed-up (ingest rates,
search_many) or its cost (search latency). The machine may be shared: compare the ratios of
one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

import nighdb
from nighdb import Collection

from .pgserver import BenchServer

T = "bench"


def _vectors(rows: int, dims: int, seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((rows, dims), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _raw_ingest(url: str, table: str, vectors: npt.NDArray[np.float32], batch: int) -> float:
    """Items per second of binary COPY, one transaction per batch."""
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        ident = sql.Identifier(table)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id text PRIMARY KEY, embedding vector({}), metadata jsonb)"
            ).format(ident, sql.Literal(vectors.shape[1]))
        )
        copy_sql = sql.SQL("COPY {} (id, embedding, metadata) FROM STDIN (FORMAT BINARY)").format(
            ident
        )
        t = time.perf_counter()
        for start in range(0, len(vectors), batch):
            with conn.transaction(), conn.cursor().copy(copy_sql) as copy:
                copy.set_types(["text", "vector", "jsonb"])
                for i in range(start, min(start + batch, len(vectors))):
                    copy.write_row((f"doc-{i:07d}", vectors[i], f'{{"n": {i}}}'))
        elapsed = time.perf_counter() - t
        conn.execute(sql.SQL("ANALYZE {}").format(ident))
    return len(vectors) / elapsed


def _nigh_ingest(
    store: nighdb.Store, name: str, vectors: npt.NDArray[np.float32], batch: int
) -> float:
    store.ensure_collection(T, Collection(name, vectors.shape[1]))
    t = time.perf_counter()
    for start in range(0, len(vectors), batch):
        stop = min(start + batch, len(vectors))
        store.upsert(
            T,
            name,
            [
                {"id": f"doc-{i:07d}", "vector": vectors[i], "metadata": {"n": i}}
                for i in range(start, stop)
            ],
        )
    return len(vectors) / (time.perf_counter() - t)


def _ms(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def run(url: str, rows: int, dims: int, queries: int, log: Any = print) -> dict[str, float]:
    vectors = _vectors(rows, dims, 7)
    qs = _vectors(queries, dims, 8)
    out: dict[str, float] = {}
    with nighdb.open_store(url) as store:
        for batch in (1_000, 10_000):
            raw = _raw_ingest(url, f"raw_b{batch}", vectors, batch)
            nigh = _nigh_ingest(store, f"b{batch}", vectors, batch)
            out[f"ingest_raw_{batch}"], out[f"ingest_nigh_{batch}"] = raw, nigh
            log(
                f"ingest, batches of {batch:>6,}: raw COPY {raw:9,.0f}/s   nighdb {nigh:9,.0f}/s"
                f"   ratio {nigh / raw:.2f}"
            )
        with psycopg.connect(url, autocommit=True) as conn:
            register_vector(conn)
            cid = conn.execute(
                "SELECT id FROM nigh_collections WHERE tenant = %s AND name = 'b10000'", (T,)
            ).fetchone()
            assert cid is not None
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(f"nigh_items_{cid[0]}")))
            raw_sql = "SELECT id FROM raw_b10000 ORDER BY embedding <=> %s LIMIT 10"
            conn.execute(raw_sql, (qs[0],), binary=True).fetchall()  # warm both
            store.search(T, "b10000", qs[0])
            raw_ms, nigh_ms = [], []
            for q in qs:
                raw_ms.append(_ms(lambda q=q: conn.execute(raw_sql, (q,), binary=True).fetchall()))
                nigh_ms.append(_ms(lambda q=q: store.search(T, "b10000", q, limit=10)))
        out["search_raw_ms"] = statistics.median(raw_ms)
        out["search_nigh_ms"] = statistics.median(nigh_ms)
        ratio = out["search_nigh_ms"] / out["search_raw_ms"]
        log(
            f"exact search p50: raw {out['search_raw_ms']:.1f} ms   "
            f"nighdb {out['search_nigh_ms']:.1f} ms   ratio {ratio:.2f}"
        )
        t = time.perf_counter()
        store.create_index(T, "b10000", m=16, ef_construction=64)
        out["hnsw_build_s"] = time.perf_counter() - t
        store.search_many(T, "b10000", qs[:4])  # warm
        singles = _ms(lambda: [store.search(T, "b10000", q, limit=10) for q in qs])
        many = _ms(lambda: store.search_many(T, "b10000", qs, limit=10))
        out["hnsw_singles_ms"], out["hnsw_many_ms"] = singles, many
        log(
            f"HNSW (built in {out['hnsw_build_s']:.1f} s): {queries} single searches "
            f"{singles:.0f} ms   search_many {many:.0f} ms   speed-up {singles / many:.1f}x"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pgscale", description=__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dims", type=int, default=384)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--pg-url", help="an existing server (default: an embedded one)")
    args = p.parse_args(argv)
    server = BenchServer(args.pg_url)
    try:
        print(f"PostgreSQL {server.describe()}")
        run(server.url, args.rows, args.dims, args.queries)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
