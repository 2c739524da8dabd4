"""The child process of ``test_crash_ops``: ``python -m tests.reliability._ops_child '<job>'``.

Same protocol as ``_child``: open the store, print ``ready``, wait for a line on stdin, then
loop rounds. Round ``r`` is one ``update`` of every item of collection ``upd`` (metadata
``round`` = r, text ``r<r>``, a new vector), acknowledged by ``u <r>``, then one
``delete(filter={"group": r})`` on collection ``del``, acknowledged by ``d <r>``. Each line
is printed only after the call returned.
"""

from __future__ import annotations

import json
import sys

import nighdb

from ._data import TENANT, vector


def main() -> None:
    job = json.loads(sys.argv[1])
    store = nighdb.open_store(job["url"])
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        ids, dims = job["ids"], job["dims"]
        for r in range(job["first_round"], job["first_round"] + job["rounds"]):
            patches = [
                {
                    "id": i,
                    "metadata_patch": {"round": r},
                    "text": f"r{r}",
                    "vector": vector(r, k, dims),
                }
                for k, i in enumerate(ids)
            ]
            store.update(TENANT, "upd", patches)
            print(f"u {r}", flush=True)
            store.delete(TENANT, "del", filter={"group": r})
            print(f"d {r}", flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main()
