"""A child process for the multi-process tests: ``python _worker.py '<json job>'``.

Protocol: open the store, print ``ready``, wait for one line on stdin (the start signal, so
every child starts its work at the same moment), do the job, print one JSON line, exit 0.
Any exception ends the process with a traceback on stderr and a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import nighdb


def _ensure(store: nighdb.Store, job: dict[str, Any]) -> dict[str, Any]:
    c = job["collection"]
    pin = store.ensure_collection(
        job["tenant"], nighdb.Collection(c["name"], c["dimensions"], c["model"], c["metric"])
    )
    store.upsert(
        job["tenant"], pin.name, [{"id": job["item_id"], "vector": [1.0] * pin.dimensions}]
    )
    return {
        "name": pin.name,
        "dimensions": pin.dimensions,
        "embedding_model": pin.embedding_model,
        "metric": pin.metric,
    }


def _upsert(store: nighdb.Store, job: dict[str, Any]) -> dict[str, Any]:
    tenant, name, worker = job["tenant"], job["name"], job["worker"]
    batches, size = job["batches"], job["batch_size"]
    written = 0
    for b in range(batches):
        items = [
            {
                "id": f"w{worker}-{b * size + k:05d}",
                "vector": [float(worker + 1), float(k + 1), float(b + 1)],
                "metadata": {"worker": worker, "batch": b},
            }
            for k in range(size)
        ]
        assert store.upsert(tenant, name, items) == size
        written += size
        # Read-your-writes while the others write: every own item is there, no more.
        mine = store.search(
            tenant, name, [1.0, 1.0, 1.0], limit=written + 10, filter={"worker": worker}
        )
        assert len(mine) == written, (len(mine), written)
    return {"written": written}


def main() -> None:
    job = json.loads(sys.argv[1])
    store = nighdb.open_store(job["url"])
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        result = _ensure(store, job) if job["kind"] == "ensure" else _upsert(store, job)
    finally:
        store.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
