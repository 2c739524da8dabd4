"""Upserts for the pgvector backend: one transaction, rows written in id order.

A batch is deduplicated first (the last occurrence of an id wins, SPEC §4): ``ON CONFLICT
DO UPDATE`` may not touch one row twice in a statement. Rows go in byte order of id, so two
writers with overlapping batches take their row locks in the same order and cannot deadlock
each other.

Small batches are one ``INSERT ... SELECT FROM unnest(arrays)``; larger ones are streamed
with binary ``COPY`` into a temporary staging table and merged by one ``INSERT ... SELECT
... ON CONFLICT``, so no statement meets a parameter limit and the batch stays all or
nothing. Vectors travel in pgvector's binary format both ways.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from ..validation import ItemBatch
from .postgres_filter import filter_document
from .postgres_schema import Layout

__all__ = ["COPY_THRESHOLD", "write_items"]

# ids, vectors (1-D float32 arrays), filter documents, metadata JSON, texts.
_Columns: TypeAlias = tuple[list[Any], ...]

COPY_THRESHOLD = 1000
"""Batches with more distinct ids than this go through COPY."""

_MERGE = sql.SQL("""
    ORDER BY id COLLATE "C"
    ON CONFLICT (id) DO UPDATE SET
        embedding = excluded.embedding,
        metadata = excluded.metadata,
        metadata_json = excluded.metadata_json,
        text = excluded.text
""")


def write_items(
    conn: psycopg.Connection[TupleRow],
    layout: Layout,
    collection_id: int,
    vector_oid: int,
    batch: ItemBatch,
) -> None:
    """Insert or replace every item of ``batch`` in one transaction."""
    order = _last_wins_in_id_order(batch.ids)
    columns: _Columns = (
        [batch.ids[i] for i in order],
        [batch.vectors[i] for i in order],
        [filter_document(batch.metadata_json[i]) for i in order],
        [batch.metadata_json[i] for i in order],
        [batch.texts[i] for i in order],
    )
    table = layout.items(collection_id)
    with conn.transaction():
        if len(order) <= COPY_THRESHOLD:
            _insert_unnest(conn, layout, table, columns)
        else:
            _insert_copy(conn, layout, table, vector_oid, columns)


def _last_wins_in_id_order(ids: list[str]) -> list[int]:
    """Positions of the last occurrence of each id, ordered by id (code point = byte order)."""
    last = {item_id: i for i, item_id in enumerate(ids)}
    return [last[item_id] for item_id in sorted(last)]


def _insert_unnest(
    conn: psycopg.Connection[TupleRow],
    layout: Layout,
    table: sql.Identifier,
    columns: _Columns,
) -> None:
    # %b: binary arrays. In text format psycopg would print every float of every vector.
    conn.execute(
        sql.SQL(
            "INSERT INTO {table} (id, embedding, metadata, metadata_json, text) "
            "SELECT u.id, u.embedding, u.filter::jsonb, u.metadata_json, u.body "
            "FROM unnest(%b::text[], %b::{vector}[], %b::text[], %b::text[], %b::text[]) "
            "AS u(id, embedding, filter, metadata_json, body) {merge}"
        ).format(table=table, vector=layout.vector_type, merge=_MERGE),
        columns,
    )


def _insert_copy(
    conn: psycopg.Connection[TupleRow],
    layout: Layout,
    table: sql.Identifier,
    vector_oid: int,
    columns: _Columns,
) -> None:
    conn.execute(
        sql.SQL(
            'CREATE TEMPORARY TABLE quiver_staging (id text COLLATE "C", embedding {vector}, '
            "filter text, metadata_json text, body text) ON COMMIT DROP"
        ).format(vector=layout.vector_type)
    )
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY quiver_staging (id, embedding, filter, metadata_json, body) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", vector_oid, "text", "text", "text"])
        for row in zip(*columns, strict=True):
            copy.write_row(row)
    conn.execute(
        sql.SQL(
            "INSERT INTO {table} (id, embedding, metadata, metadata_json, text) "
            "SELECT id, embedding, filter::jsonb, metadata_json, body FROM quiver_staging {merge}"
        ).format(table=table, merge=_MERGE)
    )
