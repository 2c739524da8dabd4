"""Approximate-index options and their validation, shared by every backend (contract §15).

Every backend takes the same index calls with the same keywords and rules, so a bad option
is the same ``InvalidArgumentError`` everywhere. The ranges are pgvector's HNSW rules, which
the SQLite backend's usearch graphs (``backends/sqlite/ann.py``) keep too, so that options
move between backends.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidArgumentError

__all__ = [
    "IndexOptions",
    "check_ef_search",
    "check_exact",
    "check_index_options",
]


@dataclass(frozen=True)
class IndexOptions:
    """A collection's approximate (HNSW) index options: graph degree and build effort."""

    m: int = 16
    ef_construction: int = 64


def _integer(label: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{label} must be an integer")
    return int(value)


def check_index_options(m: object, ef_construction: object) -> IndexOptions:
    """pgvector's rules, so a bad option is ``invalid_argument`` on every backend."""
    index = IndexOptions(_integer("m", m), _integer("ef_construction", ef_construction))
    if not 2 <= index.m <= 100:
        raise InvalidArgumentError("m must be between 2 and 100")
    if not 4 <= index.ef_construction <= 1000 or index.ef_construction < 2 * index.m:
        raise InvalidArgumentError("ef_construction must be between 4 and 1000 and at least 2 * m")
    return index


def check_ef_search(ef_search: object) -> int | None:
    """``None`` (the store's default) or 1 … 1000; checked even where no index uses it."""
    if ef_search is None:
        return None
    value = _integer("ef_search", ef_search)
    if not 1 <= value <= 1000:
        raise InvalidArgumentError("ef_search must be between 1 and 1000")
    return value


def check_exact(exact: object) -> bool:
    if not isinstance(exact, bool):
        raise InvalidArgumentError("exact must be true or false")
    return exact
