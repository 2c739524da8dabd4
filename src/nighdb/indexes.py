"""Approximate-index options and their validation, shared by every backend (contract §15).

Every backend takes the same index calls with the same keywords and rules, so a bad option
is the same ``InvalidArgumentError`` everywhere, whether or not the backend can build an
index yet. The ranges are pgvector's HNSW rules: the only index implemented today, and
the rules a future index on another backend keeps, so that options move between backends.

Where a backend has no approximate index yet (SQLite, today), ``create_index`` refuses with
``InvalidArgumentError`` after checking the names, the collection's existence and the
options (contract §2 order); ``describe_index`` answers ``None``, ``drop_index`` ``False``;
``search(exact=...)`` and ``ef_search`` are accepted and checked, and change nothing,
exactly as on a PostgreSQL collection without an index: search is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidArgumentError

__all__ = [
    "IndexOptions",
    "check_ef_search",
    "check_exact",
    "check_index_options",
    "no_index_yet",
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


def no_index_yet(backend: str, collection: str) -> InvalidArgumentError:
    """What ``create_index`` raises on a backend without approximate indexes."""
    return InvalidArgumentError(
        f"approximate indexes are not available on the {backend} backend yet, so collection "
        f"{collection!r} stays exact: every search already returns the exact nearest "
        "neighbours (exact=true is implied); use a PostgreSQL store for an HNSW index"
    )
