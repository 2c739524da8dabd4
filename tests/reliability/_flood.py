"""Tenant A's flood, in its own process: many concurrent heavy requests until told to stop.

``python -m tests.reliability._flood JOB_JSON``; prints ``ready`` once its clients exist,
starts on a ``go`` line on stdin, stops on the next line (or when stdin closes, or after
``seconds`` at most) and prints one JSON line: the count of answers by HTTP status. The
test stops it once its own measurement under the flood is done, so the flood lasts for
all of it however slow the node is. Half of the threads send
``search_many`` (``queries`` x ``limit``), the others upserts of ``batch`` items, each
thread as fast as answers come back (refused requests are sent again at once: a flood does
not honour ``Retry-After``). Responses are read and dropped, never parsed.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from collections import Counter
from typing import Any

import httpx


def main() -> None:
    job: dict[str, Any] = json.loads(sys.argv[1])
    base, key, name = job["url"], job["key"], job["collection"]
    dims, threads = int(job["dims"]), int(job["threads"])
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    clients = [httpx.Client(base_url=base, headers=headers, timeout=120) for _ in range(threads)]
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    rng = random.Random(7)
    queries = [[rng.random() for _ in range(dims)] for _ in range(int(job["queries"]))]
    search = json.dumps({"vectors": queries, "limit": int(job["limit"])}).encode()
    stop = threading.Event()

    def searches(n: int) -> bool:
        return job.get("only") == "search" or (job.get("only") != "upsert" and n % 2 == 0)

    # Each upserting thread's body is built before the flood starts and sent again and again
    # (the same ids: every round rewrites them). Building 1,000 items per request in this
    # low-priority process kept too few requests in flight on a quiet machine to reach A's
    # budget, and the flood must stand at and beyond it.
    upserts = {
        n: json.dumps(
            {
                "items": [
                    {"id": f"f{n}-{i}", "vector": [rng.random() for _ in range(dims)]}
                    for i in range(int(job["batch"]))
                ]
            }
        ).encode()
        for n in range(threads)
        if not searches(n)
    }

    def run(n: int) -> None:
        client = clients[n]
        while not stop.is_set():
            if searches(n):
                answer = client.post(f"/v1/collections/{name}/search_many", content=search)
            else:
                answer = client.post(f"/v1/collections/{name}/upsert", content=upserts[n])
            with lock:
                statuses[answer.status_code] += 1

    workers = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(threads)]
    print("ready", flush=True)
    sys.stdin.readline()
    for w in workers:
        w.start()
    told = threading.Thread(target=sys.stdin.readline, daemon=True)
    told.start()
    told.join(timeout=float(job["seconds"]))
    stop.set()
    for w in workers:
        w.join(timeout=300)
    for c in clients:
        c.close()
    print(json.dumps({str(code): n for code, n in sorted(statuses.items())}), flush=True)


if __name__ == "__main__":
    main()
