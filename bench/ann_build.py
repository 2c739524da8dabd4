"""Index build cost, paired: pgvector's HNSW build against nighdb's ``create_index``.

``python -m bench.ann_build [--rows 20000] [--rounds 2]``

On a shared machine a build's wall time is mostly the CPU share its threads win, so this
measures CPU seconds too, in the same machine state, alternating the two builds: pgvector in
one backend (``max_parallel_maintenance_workers`` 0, ``maintenance_work_mem`` 2 GB: the
graph is built in memory; its CPU time read from the backend's ``/proc/<pid>/stat``, so
Linux only) and nighdb's ``create_index`` (``time.process_time``: every thread of this
process). Same rows (the synthetic set, cosine), m 16, ef_construction 64.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import nighdb

from .datasets import item_id, prepare_synthetic
from .pgserver import BenchServer

M, EF_CONSTRUCTION = 16, 64


def backend_cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (fields 14 and 15 of ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    import psycopg
    from pgvector.psycopg import register_vector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    cache = Path(os.environ.get("NIGH_BENCH_CACHE", Path(tempfile.gettempdir()) / "nigh-bench"))
    cache.mkdir(parents=True, exist_ok=True)
    ds = prepare_synthetic(cache, args.rows, 384, print)
    base = np.ascontiguousarray(ds.base(mmap=False), dtype=np.float32)
    server = BenchServer(None)
    try:
        with (
            psycopg.connect(server.url, autocommit=True) as conn,
            tempfile.TemporaryDirectory(prefix="nigh-ann-build-") as workdir,
        ):
            register_vector(conn)
            conn.execute(f"CREATE TABLE t (id bigint PRIMARY KEY, embedding vector({ds.dims}))")
            with conn.cursor().copy("COPY t (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp:
                cp.set_types(["bigint", "vector"])
                for i in range(len(base)):
                    cp.write_row((i, base[i]))
            conn.execute("SET max_parallel_maintenance_workers = 0")
            conn.execute("SET maintenance_work_mem = '2GB'")
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            pid = int(row[0]) if row else 0
            with nighdb.open_store(f"sqlite:///{Path(workdir) / 'nigh.db'}") as store:
                store.ensure_collection("t", nighdb.Collection("c", ds.dims, metric="cosine"))
                for start in range(0, len(base), 10_000):
                    stop = min(start + 10_000, len(base))
                    store.upsert(
                        "t",
                        "c",
                        [{"id": item_id(i), "vector": base[i]} for i in range(start, stop)],
                    )
                for round_ in range(args.rounds):
                    conn.execute("DROP INDEX IF EXISTS t_hnsw")
                    cpu, wall = backend_cpu_seconds(pid), time.perf_counter()
                    conn.execute(
                        "CREATE INDEX t_hnsw ON t USING hnsw (embedding vector_cosine_ops) "
                        f"WITH (m = {M}, ef_construction = {EF_CONSTRUCTION})"
                    )
                    pg_wall = time.perf_counter() - wall
                    pg_cpu = backend_cpu_seconds(pid) - cpu
                    cpu, wall = time.process_time(), time.perf_counter()
                    store.create_index("t", "c", m=M, ef_construction=EF_CONSTRUCTION)
                    nigh_wall = time.perf_counter() - wall
                    nigh_cpu = time.process_time() - cpu
                    print(
                        f"{args.rows:,} rows, round {round_ + 1}: pgvector {pg_wall:.1f} s "
                        f"({pg_cpu:.1f} CPU s), nighdb {nigh_wall:.1f} s ({nigh_cpu:.1f} CPU s): "
                        f"{nigh_wall / pg_wall:.2f}x wall, {nigh_cpu / pg_cpu:.2f}x CPU",
                        flush=True,
                    )
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
