"""The transfer tests' data: items whose float32 values are treacherous in decimal, and the
``source`` store that holds 40 of them, with the collection its export's header names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nighdb

from ..cli_support import seed, sqlite_url

# float32 values whose decimal forms are treacherous: subnormals, -0.0, extremes, 1/3.
AWKWARD = np.array(
    [0.1, -0.0, 1e-45, 3.4028235e38, -1.1754944e-38, 1 / 3, 16777217.0, 0.7], dtype=np.float32
)


def _items(n: int = 40, dims: int = len(AWKWARD)) -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    out: list[dict[str, Any]] = []
    for i in range(n):
        vector = AWKWARD if i == 0 else rng.standard_normal(dims).astype(np.float32)
        item: dict[str, Any] = {"id": f"item {i:03d} ✓", "vector": vector}
        if i % 2:
            item["metadata"] = {"i": i, "big": 2**63 - 1, "f": i / 7, "one": 1.0, "ok": True}
            item["metadata"] |= {"nested": {"list": [1, "x", None]}, "ü": "ß"}
        if i % 3:
            item["text"] = f'text {i} 🎯 "quoted"\nnewline'
        out.append(item)
    return out


# The collection ``source`` seeds, as an export's header and an import's report give it.
SOURCE_COLLECTION = {
    "name": "docs",
    "dimensions": 8,
    "embedding_model": "toy",
    "metric": "l2",
    "text_analyzer": "plain",
}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path, "source.db")
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", _items(), metric="l2", model="toy")
    yield url
