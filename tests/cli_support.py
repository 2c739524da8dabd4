"""What the CLI tests share: CliRunner calls, the real ``nigh`` executable, store helpers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner, Result

import nighdb
from nighdb.cli import main

from .harness import NIGH


def run(*args: str, input: str | bytes | None = None) -> Result:
    """``nigh ARGS`` in-process (click's CliRunner; stdout and stderr kept apart)."""
    return CliRunner().invoke(main, list(args), input=input, env={"NIGH_STORE": None})


def nigh(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``nigh`` executable in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k != "NIGH_STORE"}
    return subprocess.run(
        [NIGH, *args], capture_output=True, text=True, timeout=60, input=input, env=env
    )


def error_line(stderr: str) -> str:
    """The one line a failing command prints."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def sqlite_url(tmp_path: Path, name: str = "store.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def seed(
    store: nighdb.Store,
    tenant: str,
    name: str,
    items: Sequence[Mapping[str, Any]],
    *,
    metric: str = "cosine",
    model: str = "",
) -> None:
    dims = len(items[0]["vector"])
    store.ensure_collection(tenant, nighdb.Collection(name, dims, model, metric))
    store.upsert(tenant, name, list(items))


def contents(store: nighdb.Store, tenant: str, name: str) -> dict[str, tuple[bytes, Any, str]]:
    """Everything stored in a collection: per id, the vector's bytes, metadata and text."""
    ids = store.list_ids(tenant, name)
    return {
        i.id: (np.asarray(i.vector, dtype="<f4").tobytes(), i.metadata, i.text)
        for i in store.fetch(tenant, name, ids)
    }
