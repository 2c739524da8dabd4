"""A child process for the multi-process tests:
``python -m tests.conformance._worker '<json job>'``.

The gate protocol of ``tests/harness.py`` (``run_job``): open the store, print ``ready``,
wait for one line on stdin (the start signal, so every child starts its work at the same
moment), do the job, print one JSON line, exit 0. Any exception ends the process with a
traceback on stderr and a non-zero exit code.
"""

from __future__ import annotations

from typing import Any

import nighdb

from ..harness import run_job


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
    run_job({"ensure": _ensure, "upsert": _upsert})


if __name__ == "__main__":
    main()
