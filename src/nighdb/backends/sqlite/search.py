"""Search for the embedded backend: rank a collection's vectors in-process with numpy.

``SQLiteStore`` validates the request and opens the read transaction; this module does the
rest inside it. The collection's vectors come from the byte-budgeted cache (``cache``) when
the cached copy's version is the snapshot's; a stale copy is refreshed from the rows whose
``seq`` is newer (only the changed rows, unless rows were deleted), so every search sees
exactly its snapshot. A collection larger than the budget is streamed from the file in
bounded chunks instead: slower, still exact.

A filter becomes a boolean mask over the cached block (``columnar`` over cached metadata
columns, or ``filter``'s SQL when numpy cannot decide exactly), or the ``WHERE`` of the
streamed scan, so results are the top ``min(limit, matches)`` among matching items.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import cast

import apsw
import numpy as np
import numpy.typing as npt

from ...filters import FilterNode
from ...models import F32, Match, score_for
from ...ranking import (
    Hit,
    QueryKeys,
    VectorBlock,
    exact_distances,
    merge_hits,
    ordered_hits,
    rank_block,
)
from .cache import BlockCache
from .columnar import FieldColumn, evaluate
from .filter import compile_filter, json_path
from .quantized import F64, I64, search_quantized_many
from .quantized_copy import current_int8, int8_block
from .schema import Pin, count_rows, items_table

__all__ = [
    "CACHE_PRECISIONS",
    "Payload",
    "hit_matches",
    "item_payloads",
    "match_of",
    "query_keys",
    "search_collection",
    "streamed_ranks",
    "streams",
    "vector_hits",
]

CACHE_PRECISIONS = ("auto", "float32", "int8")

# Rows read per chunk when streaming a collection too large to cache.
_STREAM_CHUNK_BYTES = 32 * 1024 * 1024


def search_collection(
    conn: apsw.Connection,
    cache: BlockCache,
    pin: Pin,
    matrix: F32,
    k: int,
    tree: FilterNode | None,
    *,
    precision: str = "auto",
    db_path: str | None = None,
) -> list[list[Match]]:
    """The top ``k`` matches of each row of ``matrix``, as of ``conn``'s transaction.

    ``precision`` (``CACHE_PRECISIONS``) picks the in-memory copy: ``float32`` the full
    vectors, ``int8`` the quantized copy (``quantized``), ``auto`` the float32 copy when it
    fits the budget, else the int8 copy. A copy that does not fit is streamed instead. The
    int8 copy is persisted beside ``db_path`` when one is given.
    """
    hits = vector_hits(conn, cache, pin, matrix, k, tree, precision=precision, db_path=db_path)
    return hit_matches(conn, pin, hits)


def vector_hits(
    conn: apsw.Connection,
    cache: BlockCache,
    pin: Pin,
    matrix: F32,
    k: int,
    tree: FilterNode | None,
    *,
    precision: str = "auto",
    db_path: str | None = None,
) -> list[list[Hit]]:
    """The exact top ``k`` of each row of ``matrix`` as (distance, id, rowid), in order."""
    metric = pin.collection.metric
    quantized = None
    if precision != "float32":
        quantized = current_int8(cache, pin)
    block = None
    if quantized is None and precision != "int8":
        block = _cached_block(conn, cache, pin)
    if block is not None:
        allowed = None if tree is None else _filter_mask(conn, cache, pin, block.rowids, tree)
        per_query = [
            ordered_hits(block, c, k) for c in rank_block(block, matrix, metric, k, allowed)
        ]
        return per_query
    if quantized is None and precision != "float32":
        quantized = int8_block(conn, cache, pin, db_path)
    if quantized is not None:
        allowed = None if tree is None else _filter_mask(conn, cache, pin, quantized.rowids, tree)
        table = items_table(pin.id)
        return search_quantized_many(conn, table, quantized, matrix, metric, k, allowed)
    return _streamed(conn, pin, matrix, k, tree)


def query_keys(
    conn: apsw.Connection,
    cache: BlockCache,
    pin: Pin,
    query: F32,
    tree: FilterNode | None,
    *,
    precision: str = "auto",
) -> QueryKeys | None:
    """One query's keys over the cached float32 copy, for ``vector_hits``' top and ranks in
    the same order; None when the search would use another copy (int8 or streamed)."""
    if precision == "int8" or (precision != "float32" and current_int8(cache, pin) is not None):
        return None
    block = _cached_block(conn, cache, pin)
    if block is None:
        return None
    allowed = None if tree is None else _filter_mask(conn, cache, pin, block.rowids, tree)
    keys = QueryKeys(block, query, pin.collection.metric, allowed)
    return keys if keys.usable else None


def streams(
    conn: apsw.Connection,
    cache: BlockCache,
    pin: Pin,
    *,
    precision: str = "auto",
    db_path: str | None = None,
) -> bool:
    """Whether ``vector_hits`` would stream the collection from the file (no copy fits)."""
    if precision != "float32" and current_int8(cache, pin) is not None:
        return False
    if precision != "int8" and _cached_block(conn, cache, pin) is not None:
        return False
    return precision == "float32" or int8_block(conn, cache, pin, db_path) is None


def _filter_mask(
    conn: apsw.Connection, cache: BlockCache, pin: Pin, rowids: I64, tree: FilterNode
) -> npt.NDArray[np.bool_]:
    """The rows (``rowids``, in rowid order) that pass ``tree``: from cached metadata
    columns when exact."""

    def column(field: str) -> FieldColumn:
        key = (pin.id, "field", field)
        hit = cache.get(key)
        if hit is not None and hit[0] == pin.version and isinstance(hit[1], FieldColumn):
            return hit[1]
        if field == "id":
            row = conn.execute(
                f"SELECT json_group_array(id ORDER BY rowid) FROM {items_table(pin.id)}"
            ).fetchone()
            col = FieldColumn.from_strings(json.loads(row[0]) if row else [])
        else:
            # One aggregate row instead of one Python row per item; `->` keeps each
            # value's JSON exactly as stored (absent and null both become null).
            row = conn.execute(
                f"SELECT json_group_array(metadata -> ? ORDER BY rowid) FROM {items_table(pin.id)}",
                (json_path(field),),
            ).fetchone()
            col = FieldColumn.from_values(json.loads(row[0]) if row else [])
        cache.put(key, pin.version, col)
        return col

    mask = evaluate(tree, column, len(rowids))
    return mask if mask is not None else _sql_mask(conn, pin, rowids, tree)


def _sql_mask(
    conn: apsw.Connection, pin: Pin, rowids: I64, tree: FilterNode
) -> npt.NDArray[np.bool_]:
    where, params = compile_filter(tree)
    rows = conn.execute(f"SELECT rowid FROM {items_table(pin.id)} WHERE {where}", params).fetchall()
    passing = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return np.isin(rowids, passing, assume_unique=True)


def _cached_block(conn: apsw.Connection, cache: BlockCache, pin: Pin) -> VectorBlock | None:
    """The collection's vectors as of this transaction, or None when over budget."""
    table = items_table(pin.id)
    key = (pin.id, "vectors")
    hit = cache.get(key)
    cached: tuple[int, VectorBlock] | None = None
    if hit is not None and isinstance(hit[1], VectorBlock):
        cached = (hit[0], hit[1])
        if hit[0] == pin.version:
            return hit[1]
    dims = pin.collection.dimensions
    count = count_rows(conn, table)
    if not cache.fits(count * (dims * 4 + 80)):
        cache.discard(key)
        return None
    block = None
    if cached is not None and cached[0] < pin.version:
        block = _refresh(conn, table, dims, cached, count)
    if block is None:
        block = _load(conn, f"SELECT rowid, id, vector FROM {table} ORDER BY rowid", (), dims)
    cache.put(key, pin.version, block)
    return block


def _streamed(
    conn: apsw.Connection,
    pin: Pin,
    matrix: F32,
    k: int,
    tree: FilterNode | None,
) -> list[list[Hit]]:
    """Exact search over a collection too large to cache: bounded chunks, merged top-k."""
    best: list[list[Hit]] = [[] for _ in range(matrix.shape[0])]
    for block in _chunks(conn, pin, tree):
        for j, cand in enumerate(rank_block(block, matrix, pin.collection.metric, k)):
            best[j] = merge_hits(best[j], ordered_hits(block, cand), k)
    return [b[:k] for b in best]


def streamed_ranks(
    conn: apsw.Connection,
    pin: Pin,
    query: F32,
    tree: FilterNode | None,
    rowids: list[int],
    k: int = 0,
) -> tuple[I64, F64, list[Hit]] | None:
    """The exact vector rank (by (distance, id) among the items passing ``tree``) and
    distance of each item at ``rowids`` (passing items), and the exact top ``k``, in one
    streamed pass over the stored float32 vectors; None when float32 overflowed (the caller
    ranks exactly).

    For a copy that is not the cached float32 one (the int8 copy, or none): the float32 keys
    of each chunk count the rows surely closer than each item and rescore only its band
    (``QueryKeys.closer_than``), instead of ordering every row in float64 and Python; the
    same keys give the chunk's top ``k`` (as ``_streamed`` would), so a streamed hybrid
    search can read the file once.
    """
    table, dims, metric = items_table(pin.id), pin.collection.dimensions, pin.collection.metric
    targets = _load(
        conn,
        f"SELECT rowid, id, vector FROM {table} "
        "WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid",
        (json.dumps(rowids),),
        dims,
    )
    at = np.searchsorted(targets.rowids, np.array(rowids, dtype=np.int64))
    distances = exact_distances(targets.vectors, query, metric)[at]
    ids = [targets.ids[int(i)] for i in at.tolist()]
    before = np.zeros(len(rowids), dtype=np.int64)
    best: list[Hit] = []
    for chunk in _chunks(conn, pin, tree):
        keys = QueryKeys(chunk, query, metric)
        if not keys.usable:
            return None
        before += keys.closer_than(distances, ids)
        if k:
            best = merge_hits(best, ordered_hits(chunk, keys.top(k)), k)
    return 1 + before, distances, best


def _chunks(conn: apsw.Connection, pin: Pin, tree: FilterNode | None) -> Iterator[VectorBlock]:
    """The rows passing ``tree``, in rowid order, as blocks of about 32 MiB."""
    dims = pin.collection.dimensions
    chunk_rows = max(1, _STREAM_CHUNK_BYTES // (dims * 4))
    where, params = ("1", []) if tree is None else compile_filter(tree)
    sql = (
        f"SELECT rowid, id, vector FROM {items_table(pin.id)} "
        f"WHERE rowid > ? AND {where} ORDER BY rowid LIMIT ?"
    )
    last = -(2**63)
    while True:
        block = _load(conn, sql, (last, *params, chunk_rows), dims)
        if not len(block):
            return
        last = int(block.rowids[-1])
        yield block


def hit_matches(conn: apsw.Connection, pin: Pin, per_query: list[list[Hit]]) -> list[list[Match]]:
    """The hits with their metadata and text, read in one statement."""
    payload = item_payloads(conn, pin, {r for hits in per_query for _, _, r in hits})
    metric = pin.collection.metric
    return [
        [match_of(metric, dist, item_id, payload[rowid]) for dist, item_id, rowid in hits]
        for hits in per_query
    ]


Payload = tuple[str, str, str]
"""A stored item's id, metadata (as JSON text) and text."""


def item_payloads(conn: apsw.Connection, pin: Pin, rowids: Iterable[int]) -> dict[int, Payload]:
    """The id, metadata and text of the items at ``rowids``, by rowid, in one statement."""
    wanted = sorted(rowids)
    if not wanted:
        return {}
    rows = conn.execute(
        f"SELECT rowid, id, json(metadata), text FROM {items_table(pin.id)} "
        "WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(wanted),),
    )
    return {int(rowid): (str(i), str(meta), str(text)) for rowid, i, meta, text in rows}


def match_of(metric: str, distance: float, item_id: str, payload: Payload) -> Match:
    return Match(
        id=item_id,
        distance=distance,
        score=score_for(metric, distance),
        metadata=json.loads(payload[1]),
        text=payload[2],
    )


def _load(conn: apsw.Connection, sql: str, params: Sequence[object], dims: int) -> VectorBlock:
    rows = conn.execute(sql, params).fetchall()
    rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    ids = [str(r[1]) for r in rows]
    if rows:
        blobs = [cast(bytes, r[2]) for r in rows]
        vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(-1, dims)
        vectors = vectors.astype(np.float32, copy=False)
    else:
        vectors = np.empty((0, dims), dtype=np.float32)
    return VectorBlock.build(rowids, ids, vectors)


def _refresh(
    conn: apsw.Connection,
    table: str,
    dims: int,
    cached: tuple[int, VectorBlock],
    count: int,
) -> VectorBlock | None:
    """Apply the rows written since the cached version; None if a full reload is needed.

    Only upserts leave a trace (``seq``); if the merged copy has more rows than the table,
    some cached rows were deleted, so the caller reloads instead.
    """
    version, old = cached
    delta = _load(
        conn,
        f"SELECT rowid, id, vector FROM {table} WHERE seq > ? ORDER BY rowid",
        (version,),
        dims,
    )
    if not len(delta):
        return old if len(old) == count else None
    keep = ~np.isin(old.rowids, delta.rowids, assume_unique=True)
    if int(keep.sum()) + len(delta) != count:
        return None
    rowids = np.concatenate([old.rowids[keep], delta.rowids])
    order = np.argsort(rowids, kind="stable")
    kept_ids = [i for i, k in zip(old.ids, keep.tolist(), strict=True) if k]
    ids_all = kept_ids + delta.ids
    vectors = np.concatenate([old.vectors[keep], delta.vectors])[order]
    return VectorBlock.build(rowids[order], [ids_all[i] for i in order.tolist()], vectors)
