"""HNSW indexes for the pgvector backend: options, validation, and the DDL.

An index is opt-in per collection (contract §5: approximate search only where asked for). Its
options live in the registry row, so every node learns that the collection is indexed;
the search side is in ``search``.

pgvector's HNSW takes ``vector`` columns of at most 2,000 dimensions. Wider collections (up to
4,000: 3,072-dimensional embeddings are common) are indexed on ``embedding::halfvec(N)``, the
vectors rounded to 16-bit floats (contract §17). Only the index's walk sees the rounding:
searches re-rank its candidates in float64 from the stored float32 vectors, so the order and
distances returned are exact for the candidates found, as on any approximate index.
"""

from __future__ import annotations

from psycopg import sql

from ...errors import InvalidArgumentError
from ...indexes import IndexOptions
from ...indexes import check_ef_search as _check_ef_search
from ...indexes import check_index_options as check_hnsw
from ...models import Collection
from .schema import Conn, Layout

__all__ = [
    "HALFVEC_ABOVE",
    "MAX_INDEX_DIMENSIONS",
    "HnswIndex",
    "build",
    "check_ef_search",
    "check_hnsw",
    "indexed",
    "remove",
]

HALFVEC_ABOVE = 2000
"""pgvector's HNSW limit for ``vector`` columns: wider collections are indexed as halfvec."""

MAX_INDEX_DIMENSIONS = 4000
"""pgvector's HNSW limit for ``halfvec``; wider collections stay exact."""

_HALFVEC_OPS = {"cosine": "halfvec_cosine_ops", "l2": "halfvec_l2_ops", "ip": "halfvec_ip_ops"}


def indexed(layout: Layout, dimensions: int, value: sql.Composable) -> sql.Composable:
    """``value`` (a vector) as the collection's index orders it: itself, or as a halfvec."""
    if dimensions <= HALFVEC_ABOVE:
        return value
    halfvec = sql.SQL("{}.halfvec").format(sql.Identifier(layout.vector_schema))
    return sql.SQL("({}::{}({}))").format(value, halfvec, sql.Literal(int(dimensions)))


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
    collection: Collection,
    index: HnswIndex,
) -> None:
    """(Re)build the index and record it; the caller holds the registry row's lock."""
    remove(conn, layout, collection_id)
    metric, dimensions = collection.metric, collection.dimensions
    ops = layout.opclass(metric)
    if dimensions > HALFVEC_ABOVE:
        ops = sql.Identifier(layout.vector_schema, _HALFVEC_OPS[metric])
    conn.execute(
        sql.SQL(
            "CREATE INDEX {name} ON {table} USING hnsw ({column} {ops}) "
            "WITH (m = {m}, ef_construction = {ef})"
        ).format(
            name=sql.Identifier(layout.index_name(collection_id)),
            table=layout.items(collection_id),
            column=indexed(layout, dimensions, sql.Identifier("embedding")),
            ops=ops,
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
