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
the CPU itself, so the figures are a floor of what the node can do, not its ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import nighdb
from nighdb import Collection

NIGH = str(Path(sys.executable).with_name("nigh"))


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


async def _run(
    base: str, op: str, clients: int, keys: list[str], dims: int, seconds: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "refused": {}}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        tenants = min(clients, len(keys))
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            *(_client(http, op, keys[c % tenants], dims, deadline, c, out) for c in range(clients))
        )
        wall = time.monotonic() - started
    lat = np.asarray(out["latencies"]) * 1000
    return {
        "op": op,
        "clients": clients,
        "tenants": tenants,
        "requests_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
        "refused": out["refused"],
    }


def _measure(name: str, url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    keys = _seed(url, args.tenants, args.items, args.dims)
    node = Node(url)
    rows = []
    try:
        for clients in args.clients:
            for op in ("search", "upsert"):
                row = {
                    "node": name,
                    **asyncio.run(_run(node.url, op, clients, keys, args.dims, args.seconds)),
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        node.close()
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| node | op | clients | tenants | requests/s | p50 ms | p99 ms | refused |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        refused = ", ".join(f"{k}: {v}" for k, v in r["refused"].items()) or "none"
        lines.append(
            f"| {r['node']} | {r['op']} | {r['clients']} | {r['tenants']} | {r['requests_per_s']} "
            f"| {r['p50_ms']} | {r['p99_ms']} | {refused} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--tenants", type=int, default=10)
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
