"""HNSW indexes for the pgvector backend: options, validation, and the DDL.

An index is opt-in per collection (contract §5: approximate search only where asked for). Its
options live in the registry row, so every node learns that the collection is indexed;
the search side is in ``search``.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from ...errors import InvalidArgumentError
from .schema import Layout

__all__ = ["MAX_INDEX_DIMENSIONS", "HnswIndex", "build", "check_ef_search", "check_hnsw", "remove"]

MAX_INDEX_DIMENSIONS = 2000
"""pgvector's HNSW limit for ``vector`` columns; wider collections stay exact."""

Conn = psycopg.Connection[TupleRow]


@dataclass(frozen=True)
class HnswIndex:
    """A collection's HNSW index options (pgvector's ``m`` and ``ef_construction``)."""

    m: int
    ef_construction: int


def _integer(label: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{label} must be an integer")
    return value


def check_ef_search(ef_search: object) -> int:
    value = _integer("ef_search", ef_search)
    if not 1 <= value <= 1000:
        raise InvalidArgumentError("ef_search must be between 1 and 1000 (pgvector's range)")
    return value


def check_hnsw(m: object, ef_construction: object) -> HnswIndex:
    """pgvector's rules, checked here so that a bad option is invalid_argument, not SQL."""
    index = HnswIndex(_integer("m", m), _integer("ef_construction", ef_construction))
    if not 2 <= index.m <= 100:
        raise InvalidArgumentError("m must be between 2 and 100 (pgvector's range)")
    if not 4 <= index.ef_construction <= 1000 or index.ef_construction < 2 * index.m:
        raise InvalidArgumentError(
            "ef_construction must be between 4 and 1000 and at least 2 * m (pgvector's rules)"
        )
    return index


def build(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    metric: str,
    index: HnswIndex,
) -> None:
    """(Re)build the index and record it; the caller holds the registry row's lock."""
    remove(conn, layout, collection_id)
    conn.execute(
        sql.SQL(
            "CREATE INDEX {name} ON {table} USING hnsw (embedding {ops}) "
            "WITH (m = {m}, ef_construction = {ef})"
        ).format(
            name=sql.Identifier(layout.index_name(collection_id)),
            table=layout.items(collection_id),
            ops=layout.opclass(metric),
            m=sql.Literal(index.m),
            ef=sql.Literal(index.ef_construction),
        )
    )
    _record(conn, layout, collection_id, index)


def remove(conn: Conn, layout: Layout, collection_id: int) -> None:
    """Drop the index if there is one, and record that there is none."""
    name = sql.Identifier(layout.schema, layout.index_name(collection_id))
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(name))
    _record(conn, layout, collection_id, None)


def _record(conn: Conn, layout: Layout, collection_id: int, index: HnswIndex | None) -> None:
    conn.execute(
        sql.SQL("UPDATE {} SET hnsw_m = %s, hnsw_ef_construction = %s WHERE id = %s").format(
            layout.collections
        ),
        (
            None if index is None else index.m,
            None if index is None else index.ef_construction,
            collection_id,
        ),
    )
