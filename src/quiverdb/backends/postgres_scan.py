"""Exact ``search_many`` on PostgreSQL in one pass: stream the vectors, rank them here.

pgvector ranks one query per scan, so 100 exact queries cost 100 full scans of the table on
the server (a ``LATERAL`` join batches the round trips, not the work). Past a few queries it
is cheaper to read the matching vectors once, in bounded chunks as one streamed binary
result, and rank every query against each chunk with the same float32 BLAS
product and float64 rescoring as the SQLite backend (``quiverdb.ranking``). The filter
still runs on the server. The winners' payload is then read by primary key in the same
``REPEATABLE READ`` snapshot, so the result is one consistent view of the collection.

This moves the arithmetic from the database server to the application node, which is where
a deployment of several app nodes on one PostgreSQL has spare CPU.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from ..ranking import VectorBlock, rank_block
from .postgres_schema import Layout

__all__ = ["STREAM_MIN_QUERIES", "scan_many"]

F32 = npt.NDArray[np.float32]
Conn = psycopg.Connection[TupleRow]

STREAM_MIN_QUERIES = 32
"""Exact searches of at least this many queries stream the collection. Measured at 100k x
384 on 2 cores (bench/): one streamed pass costs about as much as 20-25 server-side scans,
so 100 queries run about 4x faster this way; fewer than ~25 would run slower."""

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
    unordered (the caller re-ranks), ties at the cut-off resolved by the smaller id."""
    table = layout.items(collection_id)
    condition, params = where
    dims = queries.shape[1]
    chunk_rows = max(1, _CHUNK_BYTES // (4 * dims + 64))
    # Per query, a max-heap (by negated distance, then id) of the best ``limit`` seen so far.
    best: list[list[tuple[float, _Desc]]] = [[] for _ in range(queries.shape[0])]
    scan = sql.SQL("SELECT id, {send}(embedding) FROM {table} WHERE {where}").format(
        send=sql.Identifier(layout.vector_schema, "vector_send"), table=table, where=condition
    )
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with conn.cursor(binary=True) as cursor:
            for rows in _chunks(cursor.stream(scan, params, size=_STREAM_ROWS), chunk_rows):
                block = _block(rows, dims)
                for j, cand in enumerate(rank_block(block, queries, metric, limit)):
                    heap = best[j]
                    for p, d in zip(cand.positions.tolist(), cand.distances.tolist(), strict=True):
                        entry = (-d, _Desc(block.ids[p]))
                        if len(heap) < limit:
                            heapq.heappush(heap, entry)
                        elif entry > heap[0]:
                            heapq.heapreplace(heap, entry)
        winners = sorted({e[1].id for heap in best for e in heap})
        payload = conn.execute(
            sql.SQL(
                "SELECT id, embedding, metadata_json, text FROM {} WHERE id = ANY(%b::text[])"
            ).format(table),
            (winners,),
            binary=True,
        ).fetchall()
    by_id = {str(row[0]): row for row in payload}
    return [[by_id[e[1].id] for e in heap] for heap in best]


class _Desc:
    """An id that orders in reverse, so the heap's top is the worst (largest distance, then
    largest id) of the kept rows."""

    __slots__ = ("id",)

    def __init__(self, item_id: str) -> None:
        self.id = item_id

    def __lt__(self, other: _Desc) -> bool:
        return self.id > other.id

    def __gt__(self, other: _Desc) -> bool:
        return self.id < other.id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """``rows`` in lists of ``size``."""
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _block(rows: list[Any], dims: int) -> VectorBlock:
    """A chunk of ``(id, vector_send bytes)`` rows as a ranking block."""
    ids = [str(r[0]) for r in rows]
    # vector_send: uint16 dims, uint16 unused, then big-endian float32s.
    raw = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8)
    matrix = raw.reshape(len(rows), 4 + 4 * dims)[:, 4:]
    vectors = np.ascontiguousarray(matrix).view(">f4").astype(np.float32)
    rowids = np.arange(len(rows), dtype=np.int64)
    return VectorBlock.build(rowids, ids, vectors)
