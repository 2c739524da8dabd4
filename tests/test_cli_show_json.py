"""``nigh show --ids --json`` prints one whole JSON document or nothing, never a truncated one.

The ids come in pages (``list_ids``); a page that fails after earlier ones were printed used
to leave half a document on stdout. Here the real ``nigh`` blocks on a full stdout pipe, the
collection is dropped meanwhile, and stdout must still parse.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nighdb

from .cli_support import seed, sqlite_url
from .harness import NIGH

# More than one page of ids (10,000), long enough that one page overfills a pipe (64 KiB).
N = 12_000
IDS = [f"item-{i:06d}-{'x' * 30}" for i in range(N)]


def test_show_ids_json_is_whole_even_when_the_collection_goes_meanwhile(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", [{"id": i, "vector": [1.0, 0.0]} for i in IDS])
    env = {k: v for k, v in os.environ.items() if k != "NIGH_STORE"}
    with subprocess.Popen(
        [NIGH, "show", "acme", "docs", "--ids", "--json", "--store", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.read(1)  # the command has started printing
        with nighdb.open_store(url) as store:
            store.drop_collection("acme", "docs")
        out = first + proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(timeout=60)
    assert proc.returncode == 0, err
    data = json.loads(out)
    assert data["count"] == N and data["ids"] == IDS
