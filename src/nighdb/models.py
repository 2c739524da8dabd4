"""The data model: a collection pins a vector space; items live in it; searches return matches.

A ``Collection`` is the *pin* (name, dimensions, embedding model, metric): vectors are only
comparable inside one pin, so a pin never changes in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "F32",
    "INT64_MAX",
    "INT64_MIN",
    "METRICS",
    "Collection",
    "Item",
    "ItemLike",
    "Match",
    "Metric",
    "VectorLike",
]

Metric = Literal["cosine", "l2", "ip"]
METRICS: tuple[Metric, ...] = ("cosine", "l2", "ip")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Integers in metadata and filters must fit here: they round-trip exactly on every backend."""

F32: TypeAlias = npt.NDArray[np.float32]
"""A float32 numpy array: how vectors are held in memory (the stored form, bit for bit)."""

VectorLike: TypeAlias = Sequence[float] | npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Collection:
    """A collection's pin: the vector space its items live in."""

    name: str
    dimensions: int
    embedding_model: str = ""
    metric: str = "cosine"
    # How item texts are analyzed for text search (contract §14); "" asks for "don't care".
    text_analyzer: str = "plain"


@dataclass(frozen=True)
class Item:
    """One stored vector with its filterable metadata and its text (full-text indexed, §14)."""

    id: str
    vector: VectorLike
    metadata: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""


ItemLike: TypeAlias = Item | Mapping[str, Any]


@dataclass(frozen=True)
class Match:
    """One search result. ``distance`` is the raw metric distance; ``score`` is higher-is-closer."""

    id: str
    distance: float
    score: float
    metadata: dict[str, Any]
    text: str


def score_for(metric: str, distance: float) -> float:
    """The higher-is-closer score of a raw distance under ``metric`` (contract §1)."""
    if metric == "cosine":
        return 1.0 - distance
    return -distance
