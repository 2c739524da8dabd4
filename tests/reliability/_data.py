"""Deterministic test data shared by the parent tests and their child processes.

Every vector is exactly representable in float32 (multiples of 1/8 below 16), so "the stored
vector is the one written" is an exact comparison.
"""

from __future__ import annotations

from typing import Any

TENANT = "rel"


def vector(seed: int, k: int, dims: int) -> list[float]:
    return [float(((seed * 31 + k * 7 + j * 3) % 97) + 1) / 8.0 for j in range(dims)]


def batch_items(writer: int, batch: int, size: int, dims: int) -> list[dict[str, Any]]:
    """Batch ``batch`` of ``writer``: ``size`` items, ids ``w<writer>-b<batch>-<k>``."""
    return [
        {
            "id": batch_id(writer, batch, k),
            "vector": vector(writer * 100_003 + batch, k, dims),
            "metadata": {"writer": writer, "batch": batch, "k": k},
            "text": f"w{writer} b{batch} k{k}",
        }
        for k in range(size)
    ]


def batch_id(writer: int, batch: int, k: int) -> str:
    return f"w{writer}-b{batch:06d}-{k:04d}"
