"""Child processes of the reliability tests: ``python -m tests.reliability._child '<job>'``.

The gate protocol of ``tests/harness.py`` (``run_job``): open the store, print ``ready``,
wait for one line on stdin (the start signal), do the job. A crash writer prints each batch
number *after* its upsert returned (the acknowledgement the parent trusts); the other jobs
print one JSON line at the end. The ``read_only`` job opens its store itself, without the
gate. Any exception ends the process with a traceback on stderr and a non-zero exit code.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

import nighdb

from ..harness import run_job
from ._data import TENANT, batch_items


def crash_writer(store: nighdb.Store, job: dict[str, Any]) -> None:
    size, dims = job["batch_size"], job["dims"]
    for batch in range(job["first_batch"], job["first_batch"] + job["max_batches"]):
        store.upsert(TENANT, job["collection"], batch_items(0, batch, size, dims))
        print(batch, flush=True)


def load_writer(store: nighdb.Store, job: dict[str, Any]) -> dict[str, Any]:
    writer, size, dims = job["writer"], job["batch_size"], job["dims"]
    deadline = time.monotonic() + job["seconds"]
    batch = 0
    while time.monotonic() < deadline and batch < job["max_batches"]:
        items = batch_items(writer, batch, size, dims)
        assert store.upsert(TENANT, job["collection"], items) == size
        batch += 1
    return {"batches": batch}


def load_reader(store: nighdb.Store, job: dict[str, Any]) -> dict[str, Any]:
    """Windows of batches: each batch is seen whole or not at all, and never disappears."""
    size, dims, writers = job["batch_size"], job["dims"], job["writers"]
    rng = random.Random(job["seed"])
    deadline = time.monotonic() + job["seconds"]
    seen_full: dict[int, int] = dict.fromkeys(range(writers), -1)  # highest batch seen whole
    reads = batches_checked = 0
    last_count = 0
    while time.monotonic() < deadline and reads < job["max_reads"]:
        writer = rng.randrange(writers)
        low = max(0, seen_full[writer] - rng.randrange(8))
        window = {"writer": writer, "batch": {"gte": low, "lt": low + 8}}
        matches = store.search(
            TENANT, job["collection"], [1.0] * dims, limit=8 * size + 1, filter=window
        )
        per_batch: dict[int, int] = {}
        for m in matches:
            per_batch[m.metadata["batch"]] = per_batch.get(m.metadata["batch"], 0) + 1
        for batch, count in per_batch.items():
            assert count == size, f"partial batch {batch} of writer {writer}: {count}/{size}"
            seen_full[writer] = max(seen_full[writer], batch)
        for batch in range(low, min(low + 8, seen_full[writer] + 1)):
            assert batch in per_batch, f"batch {batch} of writer {writer} vanished"
        batches_checked += len(per_batch)
        count = store.count(TENANT, job["collection"])
        assert count >= last_count and count % size == 0, (count, last_count)
        last_count = count
        reads += 1
    return {"reads": reads, "batches_checked": batches_checked}


def full_disk(store: nighdb.Store, job: dict[str, Any]) -> dict[str, Any]:
    """Upsert after the file size limit (RLIMIT_FSIZE) was lowered: the disk is 'full'."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (job["max_file_bytes"], job["max_file_bytes"]))
    return _attempt(store, job)


def _attempt(store: nighdb.Store, job: dict[str, Any]) -> dict[str, Any]:
    items = batch_items(1, 0, job["batch_size"], job["dims"])
    try:
        store.upsert(TENANT, job["collection"], items)
    except nighdb.NighError as err:
        return {"error": type(err).__name__, "code": err.code, "message": str(err)}
    return {"error": None}


def read_only(job: dict[str, Any]) -> dict[str, Any]:
    """Open a read-only file (as an unprivileged user when started as root) and write."""
    import os

    import nighdb.backends.sqlite  # the interpreter may live where nobody can read (/root)

    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)  # root ignores file modes; nobody does not
    try:
        store = nighdb.open_store(job["url"])
    except nighdb.NighError as err:
        return {"stage": "open", "error": type(err).__name__, "code": err.code}
    try:
        result = _attempt(store, job)
        readable = store.count(TENANT, job["collection"])
        return {"stage": "upsert", **result, "count": readable}
    finally:
        store.close()


def main() -> None:
    job = json.loads(sys.argv[1])
    if job["kind"] == "read_only":
        print(json.dumps(read_only(job)), flush=True)
        return
    run_job(
        {
            "crash_writer": crash_writer,
            "load_writer": load_writer,
            "load_reader": load_reader,
            "full_disk": full_disk,
        }
    )


if __name__ == "__main__":
    main()
