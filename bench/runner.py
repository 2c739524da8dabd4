"""``python -m bench``: prepare data, run every system's phases in child processes, report.

Every measurement runs in a fresh child process (``bench.child``), one at a time, so peak
RSS is per system and phase and no system warms another's caches in-process. State passes
between a system's phases through files or the benchmark's PostgreSQL database.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import report
from .datasets import Dataset, find_wordnet, prepare_synthetic, prepare_wordnet
from .measure import Budget
from .systems import SYSTEMS

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results"

DEFAULT_DATASETS = "wordnet,100k"
QUICK_DATASETS = "wordnet,10k"
BLAS_SYSTEMS = ("numpy", "nigh-sqlite")
# Larger collections are streamed by nighdb's default budget: no BLAS-bound latency there.
BLAS_MAX_COUNT = 200_000


def log(line: str) -> None:
    print(line, flush=True)


def parse_count(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="nighdb's backends side by side with numpy, sqlite-vec and pgvector.",
    )
    p.add_argument("--quick", action="store_true", help="a short smoke run (wordnet + 10k)")
    p.add_argument(
        "--datasets",
        help=f"comma list of 'wordnet' and synthetic sizes like 100k, 1m "
        f"(default {DEFAULT_DATASETS}; --quick: {QUICK_DATASETS})",
    )
    p.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma list from {', '.join(SYSTEMS)} (default: all)",
    )
    p.add_argument("--queries", type=int, help="max single queries per measurement (200)")
    p.add_argument("--seconds", type=float, help="time budget per measurement (8)")
    p.add_argument("--ef", help="HNSW ef_search values (default 32,64,128; --quick 32,64)")
    p.add_argument("--batch", type=int, default=10_000, help="items per upsert/transaction")
    p.add_argument("--dims", type=int, default=384, help="synthetic dimensions")
    p.add_argument(
        "--pg-url", help="use this PostgreSQL (with pgvector) instead of an embedded one"
    )
    p.add_argument("--wordnet", type=Path, help="wordnet-dev directory (default: found)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    p.add_argument("--cache", type=Path, help="prepared data (default OUT/cache)")
    p.add_argument("--no-blas", action="store_true", help="skip the BLAS threads comparison")
    p.add_argument("--keep", action="store_true", help="keep the SQLite files (OUT/work)")
    p.add_argument("--no-chart", action="store_true", help="do not draw the PNG chart")
    args = p.parse_args(argv)
    args.datasets = args.datasets or (QUICK_DATASETS if args.quick else DEFAULT_DATASETS)
    args.queries = args.queries or (20 if args.quick else 200)
    args.seconds = args.seconds or (1.5 if args.quick else 8.0)
    args.ef = [int(x) for x in (args.ef or ("32,64" if args.quick else "32,64,128")).split(",")]
    unknown = [s for s in args.systems.split(",") if s not in SYSTEMS]
    if unknown:
        p.error(f"unknown systems {unknown}; choose from {list(SYSTEMS)}")
    args.systems = [s for s in SYSTEMS if s in args.systems.split(",")]
    return args


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    mem_kib = 0
    with contextlib.suppress(OSError, StopIteration), open("/proc/meminfo", encoding="utf-8") as f:
        mem_kib = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    import apsw
    import numpy as np
    import sqlite_vec

    out = {
        "numpy": np.__version__,
        "apsw": apsw.apsw_version(),
        "sqlite": apsw.sqlite_lib_version(),
        "sqlite_vec": getattr(sqlite_vec, "__version__", "?"),
    }
    with contextlib.suppress(Exception):
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        out["blas"] = f"{blas['name']} {blas['version']}"
    with contextlib.suppress(Exception):
        import psycopg

        out["psycopg"] = psycopg.__version__
    git = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    out["nighdb_git"] = git.stdout.strip()
    return out


class Runner:
    def __init__(self, args: argparse.Namespace, pg_url: str | None, out: Path) -> None:
        self.args = args
        self.pg_url = pg_url
        self.out = out
        self.budget = Budget(
            max_queries=args.queries,
            seconds=args.seconds,
            min_queries=min(20, args.queries),
            many_repeats=3,
        )
        self.phases: list[dict[str, Any]] = []
        self.blas: list[dict[str, Any]] = []

    def spec(self, ds: Dataset, system: str, phase: str, workdir: Path) -> dict[str, Any]:
        return {
            "dataset": str(ds.directory),
            "system": system,
            "phase": phase,
            "workdir": str(workdir),
            "pg_url": self.pg_url,
            "budget": asdict(self.budget),
            "batch": self.args.batch,
            "ef_search": self.args.ef,
            "hnsw_m": 16,
            "hnsw_ef_construction": 64,
        }

    def child(self, spec: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run one phase in a fresh interpreter; its result, or {"error": ...}."""
        with tempfile.TemporaryDirectory() as tmp:
            spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
            spec_path.write_text(json.dumps(spec))
            load1 = os.getloadavg()[0]
            t = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "bench.child", str(spec_path), str(out_path)],
                cwd=REPO,
                env={**os.environ, **(env or {})},
                check=False,
            )
            wall = time.perf_counter() - t
            if proc.returncode != 0 or not out_path.exists():
                log(f"  !! {spec['system']} {spec['phase']} failed (exit {proc.returncode})")
                return {"error": f"exit {proc.returncode}", "wall_s": wall, "load1": load1}
            result: dict[str, Any] = json.loads(out_path.read_text())
            result.update(wall_s=wall, load1=load1)
            return result

    def run_dataset(self, ds: Dataset) -> None:
        workroot = self.out / "work" / ds.name
        shutil.rmtree(workroot, ignore_errors=True)
        for key in self.args.systems:
            system = SYSTEMS[key]
            if system.needs_postgres and not self.pg_url:
                continue
            workdir = workroot / key
            workdir.mkdir(parents=True, exist_ok=True)
            spec0 = self.spec(ds, key, "", workdir)
            from .child import context_from

            for phase in system.phases(context_from(spec0)):
                log(f"[{ds.name}] {system.label}: {phase}")
                result = self.child({**spec0, "phase": phase})
                log(f"  ({result.get('wall_s', 0):.1f} s, load {result.get('load1', 0):.2f})")
                self.phases.append(
                    {"dataset": ds.name, "system": key, "phase": phase, "result": result}
                )
                if "error" in result:
                    break
        if not self.args.no_blas and ds.count <= BLAS_MAX_COUNT:
            self.blas_threads(ds, workroot)
        if not self.args.keep:
            shutil.rmtree(workroot, ignore_errors=True)

    def blas_threads(self, ds: Dataset, workroot: Path) -> None:
        """Single-query p50 with OpenBLAS on 1 thread vs its default, with the other core
        idle and with it kept busy by a spinning process."""
        for key in BLAS_SYSTEMS:
            if key not in self.args.systems:
                continue
            spec = {**self.spec(ds, key, "search", workroot / key), "latency_only": True}
            for busy in (False, True):
                for threads in ("default", "1"):
                    env = {} if threads == "default" else {"OPENBLAS_NUM_THREADS": "1"}
                    label = (
                        f"OPENBLAS_NUM_THREADS={threads}, other core {'busy' if busy else 'idle'}"
                    )
                    log(f"[{ds.name}] BLAS: {SYSTEMS[key].label}, {label}")
                    with spinning(busy):
                        result = self.child(spec, env)
                    variant: dict[str, Any] = next(iter(result.get("variants", {}).values()), {})
                    self.blas.append(
                        {
                            "dataset": ds.name,
                            "system": key,
                            "threads": threads,
                            "other_core": "busy" if busy else "idle",
                            "p50_ms": variant.get("p50_ms"),
                            "p95_ms": variant.get("p95_ms"),
                            "load1": result.get("load1"),
                        }
                    )


@contextlib.contextmanager
def spinning(busy: bool) -> Iterator[None]:
    """A process that keeps one core busy for the duration (our own child; ended by pid)."""
    if not busy:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def prepare(args: argparse.Namespace, cache: Path) -> list[Dataset]:
    out = []
    for name in args.datasets.split(","):
        t = time.perf_counter()
        if name.strip() == "wordnet":
            out.append(prepare_wordnet(cache, find_wordnet(args.wordnet), log))
        else:
            out.append(prepare_synthetic(cache, parse_count(name), args.dims, log))
        log(f"data set {out[-1].name}: ready in {time.perf_counter() - t:.1f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "loadavg_start": os.getloadavg(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "(unset)"),
        "budget": {"queries": args.queries, "seconds": args.seconds, "batch": args.batch},
    }
    log(
        f"nighdb bench: {meta['machine']['nproc']} cpus, {meta['machine']['cpu']}, "
        f"load {meta['loadavg_start'][0]:.2f}"
    )
    datasets = prepare(args, args.cache or out / "cache")

    server = None
    pg_url = args.pg_url
    if any(SYSTEMS[s].needs_postgres for s in args.systems):
        from .pgserver import BenchServer

        t = time.perf_counter()
        server = BenchServer(args.pg_url)
        pg_url = server.url
        meta["postgres"] = server.describe()
        log(
            f"postgres {meta['postgres']['server_version']} with pgvector "
            f"{meta['postgres']['pgvector']} ready in {time.perf_counter() - t:.1f} s"
        )
    runner = Runner(args, pg_url, out)
    try:
        for ds in datasets:
            runner.run_dataset(ds)
            if server is not None:
                server.drop_tables()
    finally:
        if server is not None:
            server.close()

    meta["duration_s"] = time.perf_counter() - t0
    meta["loadavg_end"] = os.getloadavg()
    results = report.assemble(meta, datasets, runner.phases, runner.blas)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    json_path = out / f"bench-{stamp}.json"
    json_path.write_text(json.dumps(results, indent=1))
    shutil.copyfile(json_path, out / "latest.json")
    print(report.render(results))
    log(f"\nJSON: {json_path}")
    if not args.no_chart:
        from .chart import draw

        png = out / f"bench-{stamp}.png"
        draw(results, png)
        shutil.copyfile(png, out / "latest.png")
        log(f"chart: {png}")
    log(f"total {meta['duration_s'] / 60:.1f} min")
    return 1 if any("error" in p["result"] for p in runner.phases) else 0
