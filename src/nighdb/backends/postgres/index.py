"""HNSW indexes for the pgvector backend: options, validation, and the DDL.

An index is opt-in per collection (contract §5: approximate search only where asked for). Its
options live in the registry row, so every node learns that the collection is indexed;
the search side is in ``search``.
"""

from __future__ import annotations

from psycopg import sql

from ...errors import InvalidArgumentError
from ...indexes import IndexOptions
from ...indexes import check_ef_search as _check_ef_search
from ...indexes import check_index_options as check_hnsw
from .schema import Conn, Layout

__all__ = ["MAX_INDEX_DIMENSIONS", "HnswIndex", "build", "check_ef_search", "check_hnsw", "remove"]

MAX_INDEX_DIMENSIONS = 2000
"""pgvector's HNSW limit for ``vector`` columns; wider collections stay exact."""


HnswIndex = IndexOptions
"""This backend's name for the shared index options (``nighdb.IndexOptions``)."""


def check_ef_search(ef_search: object) -> int:
    """A given ``ef_search`` (the shared rules: 1 … 1000)."""
    value = _check_ef_search(ef_search)
    if value is None:
        raise InvalidArgumentError("ef_search must be an integer")
    return value


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
