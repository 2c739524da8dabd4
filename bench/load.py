"""The service under load (``python -m bench.load``, ``make load``): docs/reliability.md.

A real ``nigh serve`` with its default limits, on a SQLite store and on PostgreSQL (an
embedded server, as ``bench.pgserver``), driven by a small async httpx driver: for 1, 10 and
100 concurrent clients, each sending one request after another for ``--seconds``, the
throughput and the p50/p99 latency of searches (1 query, limit 10) and of upserts (10 items).
The clients are spread over ``min(clients, --tenants)`` tenants, each with its own key and a
collection of ``--items`` x ``--dims`` vectors, so the figures are of the node shared fairly
between tenants, as deployed: with more clients per tenant than its budget, some requests wait
their turn or are answered 429 (counted, and left out of the latencies).

The driver runs on the same machine as the server: on a small machine it takes a good part of
the CPU itself, so the figures are a floor of what the node can do, not its ceiling. To see
where the CPU goes, each row also reports the cores used (CPU seconds over wall seconds,
from ``/proc``: ``bench/cpu.py``) by the driver, the ``nigh serve`` process, its normal and
its low-priority worker processes, and the PostgreSQL server, with the machine's load
average. The clients are spread over driver processes, one per 25 clients by default
(``--drivers N`` to choose).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import nighdb
from nighdb import Collection

from . import cpu

NIGH = str(Path(sys.executable).with_name("nigh"))

CLIENTS_PER_DRIVER = 25
"""One httpx event loop spends more CPU per request the more connections it drives: measured
on the 2-core machine, 100 clients in one driver process cost it 11 ms of CPU per request
(39 searches/s), spread over 4 processes 3 ms (117 searches/s). A driver that is the
bottleneck measures itself, not the node (docs/reliability.md, "The service under load")."""


def _key(url: str, tenant: str) -> str:
    done = subprocess.run(
        [NIGH, "keys", "create", "--tenant", tenant, "--json", "--store", url],
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(done.stdout)["key"])


def _seed(url: str, tenants: int, items: int, dims: int) -> list[str]:
    rng = np.random.default_rng(0)
    with nighdb.open_store(url) as store:
        for t in range(tenants):
            store.ensure_collection(f"t{t}", Collection("load", dims))
            vectors = rng.random((items, dims), dtype=np.float32)
            for start in range(0, items, 1_000):
                batch = range(start, min(items, start + 1_000))
                store.upsert(
                    f"t{t}", "load", [{"id": f"s{i}", "vector": vectors[i]} for i in batch]
                )
    return [_key(url, f"t{t}") for t in range(tenants)]


class Node:
    """``nigh serve`` on a free loopback port."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [
                NIGH,
                "serve",
                "--store",
                url,
                "--port",
                "0",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        if not line.startswith("nigh serve:"):
            self.proc.kill()
            raise RuntimeError(f"nigh serve did not start: {line}")
        self.url = f"http://127.0.0.1:{int(line.rsplit(':', 1)[1])}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


async def _client(
    http: httpx.AsyncClient,
    op: str,
    key: str,
    dims: int,
    deadline: float,
    seed: int,
    out: dict[str, Any],
) -> None:
    rng = np.random.default_rng(seed)
    headers = {"Authorization": f"Bearer {key}"}
    n = 0
    while time.monotonic() < deadline:
        if op == "search":
            path, body = (
                "/v1/collections/load/search",
                {"vector": rng.random(dims).tolist(), "limit": 10},
            )
        else:
            items = [
                {"id": f"u{seed}-{n}-{i}", "vector": rng.random(dims).tolist()} for i in range(10)
            ]
            path, body = "/v1/collections/load/upsert", {"items": items}
        n += 1
        started = time.perf_counter()
        answer = await http.post(path, json=body, headers=headers)
        elapsed = time.perf_counter() - started
        if answer.status_code == 200:
            out["latencies"].append(elapsed)
        else:
            out["refused"][str(answer.status_code)] = (
                out["refused"].get(str(answer.status_code), 0) + 1
            )
            if answer.status_code == 429:  # a polite client: wait what the service asks
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))


async def _drive(
    base: str,
    op: str,
    mine: list[int],
    tenants: int,
    keys: list[str],
    dims: int,
    seconds: float,
) -> dict[str, Any]:
    """Clients ``mine`` (of all the run's clients, numbered) in this process's event loop."""
    out: dict[str, Any] = {"latencies": [], "refused": {}}
    limits = httpx.Limits(max_connections=len(mine), max_keepalive_connections=len(mine))
    cpu = time.process_time()
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *(_client(http, op, keys[c % tenants], dims, deadline, c, out) for c in mine)
        )
    out["driver_cpu_s"] = time.process_time() - cpu
    return out


def _drive_in_process(args: tuple[Any, ...]) -> dict[str, Any]:
    return asyncio.run(_drive(*args))


def _run(
    node: Node,
    op: str,
    clients: int,
    keys: list[str],
    dims: int,
    seconds: float,
    drivers: int,
    pg_pid: int | None,
) -> dict[str, Any]:
    """One row: ``clients`` clients spread over ``drivers`` driver processes (1: this one;
    0: one per ``CLIENTS_PER_DRIVER``)."""
    tenants = min(clients, len(keys))
    drivers = drivers or math.ceil(clients / CLIENTS_PER_DRIVER)
    shares = [list(range(d, clients, drivers)) for d in range(drivers)]
    shares = [mine for mine in shares if mine]
    before = _cpu(node, pg_pid)
    started = time.monotonic()
    if len(shares) == 1:
        outs = [_drive_in_process((node.url, op, shares[0], tenants, keys, dims, seconds))]
    else:
        # Forked drivers: no thread runs here between rows, and each process starts its own
        # event loop and httpx client.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(len(shares), mp_context=context) as pool:
            jobs = [(node.url, op, mine, tenants, keys, dims, seconds) for mine in shares]
            outs = list(pool.map(_drive_in_process, jobs))
    wall = time.monotonic() - started
    after = _cpu(node, pg_pid)
    cores = {part: round(spent / wall, 2) for part, spent in _cpu_spent(before, after).items()}
    cores["driver"] = round(sum(o["driver_cpu_s"] for o in outs) / wall, 2)
    lat = np.asarray([x for o in outs for x in o["latencies"]]) * 1000
    refused: dict[str, int] = {}
    for o in outs:
        for status, n in o["refused"].items():
            refused[status] = refused.get(status, 0) + n
    return {
        "op": op,
        "clients": clients,
        "tenants": tenants,
        "drivers": len(shares),
        "requests_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
        "refused": refused,
        "cpu_cores": cores,
        "load_average": round(os.getloadavg()[0], 1),
    }


def _cpu(node: Node, pg_pid: int | None) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each process: the server process, its workers by priority (all
    its descendants: a worker made nicer mid-request is replaced by one that multiprocessing's
    fork server forks, a child of that server), and PostgreSQL's."""
    own = cpu.nice(node.proc.pid)
    sample = {node.proc.pid: ("server", cpu.cpu_seconds(node.proc.pid))}
    for child in cpu.tree(node.proc.pid)[1:]:
        try:
            part = "low_workers" if cpu.nice(child) > own else "workers"
        except FileNotFoundError:
            continue
        sample[child] = (part, cpu.cpu_seconds(child))
    if pg_pid is not None:
        for backend in cpu.tree(pg_pid):
            sample[backend] = ("postgres", cpu.cpu_seconds(backend))
    return sample


def _cpu_spent(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds spent between two samples by part: each process's own difference, in its
    part at the end. One that started meanwhile counts from zero; one that ended meanwhile
    (a replaced worker, a closed connection's backend) is left out: /proc no longer has it."""
    spent = dict.fromkeys(("server", "workers", "low_workers"), 0.0)
    for pid, (part, seconds) in after.items():
        spent[part] = spent.get(part, 0.0) + seconds - before.get(pid, (part, 0.0))[1]
    return spent


def _postmaster(url: str) -> int | None:
    """The local PostgreSQL server's process, to count its CPU (None: not on this machine)."""
    import psycopg

    with psycopg.connect(url) as conn:  # read while connected: the backend exits with it
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        try:
            return cpu.postmaster_of(int(row[0]))
        except FileNotFoundError:
            return None


def _measure(name: str, url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    keys = _seed(url, args.tenants, args.items, args.dims)
    pg_pid = _postmaster(url) if name == "postgres" else None
    node = Node(url)
    rows = []
    try:
        # Not measured: each worker process opens its store on its first request (seconds on
        # a busy machine), and the low-priority ones serve only tenants over their share, so
        # the most clients of the run, over every tenant, reach them all first.
        warm = list(range(max(args.clients)))
        asyncio.run(_drive(node.url, "search", warm, len(keys), keys, args.dims, args.warmup))
        for clients in args.clients:
            for op in ("search", "upsert"):
                measured = _run(
                    node, op, clients, keys, args.dims, args.seconds, args.drivers, pg_pid
                )
                row = {"node": name, **measured}
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        node.close()
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| node | op | clients | tenants | drivers | requests/s | p50 ms | p99 ms | refused "
        "| CPU cores: driver / server / workers / low workers / postgres | load avg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for r in rows:
        refused = ", ".join(f"{k}: {v}" for k, v in r["refused"].items()) or "none"
        c = r["cpu_cores"]
        parts = ("driver", "server", "workers", "low_workers", "postgres")
        split = " / ".join(str(c[p]) if p in c else "-" for p in parts)
        lines.append(
            f"| {r['node']} | {r['op']} | {r['clients']} | {r['tenants']} | {r['drivers']} "
            f"| {r['requests_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {refused} | {split} "
            f"| {r['load_average']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds, before the first")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument(
        "--drivers",
        type=int,
        default=0,
        help="driver processes the clients are spread over (default: one per "
        f"{CLIENTS_PER_DRIVER} clients)",
    )
    parser.add_argument("--items", type=int, default=2_000, help="vectors per tenant")
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument(
        "--nodes", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument(
        "--pg-url", help="an existing PostgreSQL with pgvector (else an embedded one)"
    )
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="nigh-load-") as tmp:
        if "sqlite" in args.nodes:
            rows += _measure("sqlite", f"sqlite:///{Path(tmp) / 'load.db'}", args)
        if "postgres" in args.nodes:
            from .pgserver import BenchServer

            server = BenchServer(args.pg_url)
            try:
                rows += _measure("postgres", server.url, args)
            finally:
                server.close()
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.seconds:g} s per row\n"
    )
    print(_table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
