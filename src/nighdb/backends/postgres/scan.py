"""Exact ``search_many`` on PostgreSQL in one pass: stream the vectors, rank them here.

pgvector ranks one query per scan, so 100 exact queries cost 100 full scans of the table on
the server (a ``LATERAL`` join batches the round trips, not the work). Past a few queries it
is cheaper to read the matching vectors once, in bounded chunks as one streamed binary
result, and rank every query against each chunk with the same float32 BLAS
product and float64 rescoring as the SQLite backend (``nighdb.ranking``). The filter
still runs on the server. The winners' payload is then read by primary key in the same
``REPEATABLE READ`` snapshot, so the result is one consistent view of the collection.

This moves the arithmetic from the database server to the application node, which is where
a deployment of several app nodes on one PostgreSQL has spare CPU.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
from psycopg import sql
from psycopg.adapt import PyFormat
from psycopg.rows import TupleRow

from ...models import F32
from ...ranking import Hit, VectorBlock, merge_hits, ordered_hits, rank_block
from .schema import Conn, Layout, hashed_ids
from .vector import from_binary

__all__ = ["STREAM_MIN_QUERIES", "scan_many"]


STREAM_MIN_QUERIES = 32
"""Exact searches of at least this many queries stream the collection. One streamed pass
costs as much as a few dozen server-side scans, so past this many queries streaming wins and
below it loses; the measurement that set it is in docs/benchmarks.md (``search_many(100)``)."""

# Bytes of vectors ranked at a time: bounds the client's memory whatever the table size.
_CHUNK_BYTES = 32 * 1024 * 1024
# Rows per network read (libpq >= 17 chunked results; older libpq falls back to one by one).
_STREAM_ROWS = 1024


def scan_many(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    metric: str,
    queries: F32,
    limit: int,
    where: tuple[sql.Composable, list[object]],
) -> list[list[TupleRow]]:
    """Each query's exact top-``limit`` rows ``(id, embedding, metadata_json, text)``,
    unordered (the caller re-ranks), ties at the cut-off resolved by the smaller id: each
    chunk's hits are merged as the SQLite backend's streamed scan merges them."""
    table = layout.items(collection_id)
    condition, params = where
    dims = queries.shape[1]
    chunk_rows = max(1, _CHUNK_BYTES // (4 * dims + 64))
    best: list[list[Hit]] = [[] for _ in range(queries.shape[0])]  # each query's top so far
    scan = sql.SQL("SELECT id, {send}(embedding) FROM {table} WHERE {where}").format(
        send=sql.Identifier(layout.vector_schema, "vector_send"), table=table, where=condition
    )
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with conn.cursor(binary=True) as cursor:
            for rows in _chunks(cursor.stream(scan, params, size=_STREAM_ROWS), chunk_rows):
                block = _block(rows, dims)
                for j, cand in enumerate(rank_block(block, queries, metric, limit)):
                    best[j] = merge_hits(best[j], ordered_hits(block, cand), limit)
        winners = sorted({hit[1] for hits in best for hit in hits})
        payload = conn.execute(
            sql.SQL(
                "SELECT id, embedding, metadata_json, text FROM {} WHERE id_hash = ANY({})"
            ).format(table, hashed_ids(sql.Placeholder(format=PyFormat.BINARY))),
            (winners,),
            binary=True,
        ).fetchall()
    by_id = {str(row[0]): row for row in payload}
    return [[by_id[hit[1]] for hit in hits] for hits in best]


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """``rows`` in lists of ``size``."""
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _block(rows: list[Any], dims: int) -> VectorBlock:
    """A chunk of ``(id, vector_send bytes)`` rows as a ranking block."""
    ids = [str(r[0]) for r in rows]
    vectors = from_binary([r[1] for r in rows], dims)
    return VectorBlock.build(np.arange(len(rows), dtype=np.int64), ids, vectors)
