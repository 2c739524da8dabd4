"""Search through a collection's HNSW graph, with exact distances and an exact safety net.

The graph proposes candidates (all queries of a ``search_many`` in one usearch call); each
candidate is rescored in float64 from the float32 row of this transaction's snapshot, so
distances are the contract's and rows changed or deleted since the graph was built never
leak. Ties are ordered by id as everywhere.

A filter is applied to the candidates: the graph is asked for more of them (as many as the
filter's share of the collection suggests, then four times more while a query is short),
and a query that still has fewer than ``min(limit, matches)`` hits is answered exactly. A
selective filter (fewer than ``exact_below`` matching items, or under 2% of the collection)
goes straight to the exact scan, which is then both cheaper and exact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import cast

import apsw
import numpy as np
import numpy.typing as npt

from ...filters import FilterNode
from ...models import F32, Match
from ...ranking import exact_distances
from .ann import DEFAULT_EF_SEARCH, HnswGraph
from .cache import BlockCache, Sized
from .columnar import FieldColumn, evaluate
from .filter import compile_filter, json_path
from .schema import Pin, items_table
from .search import item_payloads, match_of

__all__ = ["DEFAULT_EXACT_BELOW", "EXACT_SHARE", "search_with_graph"]

DEFAULT_EXACT_BELOW = 2_000
"""Below this many matching items a search is exact (a scan of so few rows is fast)."""
EXACT_SHARE = 0.02
"""A filter passing less than this share of the collection is searched exactly: the graph
would have to propose more than 50 candidates for each one that passes."""

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
Ranked = list[tuple[float, int]]
"""One query's kept candidates as (distance, rowid), nearest first."""


def search_with_graph(
    conn: apsw.Connection,
    cache: BlockCache,
    pin: Pin,
    graph: HnswGraph,
    matrix: F32,
    k: int,
    tree: FilterNode | None,
    *,
    ef_search: int | None,
    exact_below: int,
    exact: Callable[[F32], list[list[Match]]],
) -> list[list[Match]]:
    """The (approximate) top ``k`` of each query, ``min(k, matches)`` hits each, exact
    distances, (distance, id) order. ``exact(queries)`` is the store's exact search of
    those queries (same ``k`` and filter), for the queries the graph cannot answer."""
    # The rowids come from the cache at this version: a ``count(*)`` would walk an index of
    # every row on each search (milliseconds at 1M rows, more than the graph walk).
    rowids = _rowids(conn, cache, pin)
    total = len(rowids)
    allowed: I64 | None = None
    matching = total
    if tree is not None:
        allowed = _allowed(conn, cache, pin, tree, rowids)
        matching = len(allowed)
    if matching < exact_below or matching < EXACT_SHARE * total or matching == 0:
        return exact(matrix)
    want = min(k, matching)
    ef = DEFAULT_EF_SEARCH if ef_search is None else ef_search
    # The beam holds ``ef`` candidates anyway: rescoring all of them exactly costs little and
    # recovers neighbours the float32 graph ranked just below the cut (and tied ids).
    count = max(want, ef)
    if allowed is not None:
        count = math.ceil(count * total / matching * 1.25) + 8
    answers: list[Ranked | None] = [None] * matrix.shape[0]
    pending = np.arange(matrix.shape[0])
    while len(pending):
        with graph.lock:
            keys, counts = graph.candidates(matrix[pending], count, ef)
            size = len(graph)
        ranked = _rescored(conn, pin, matrix[pending], keys, counts, allowed, want)
        # A beam as wide as the graph that still came back short met nodes no edge leads to
        # (pruning can strand one, e.g. points on a line): only the exact search sees them.
        stranded = (counts < size).tolist() if count >= size else [False] * len(pending)
        short = []
        for position, query_ranked, lost in zip(pending.tolist(), ranked, stranded, strict=True):
            if query_ranked is not None and not lost:
                answers[position] = query_ranked
            else:
                short.append(position)
        pending = np.asarray(short, dtype=np.int64)
        if count >= size:
            break
        count = min(count * 4, size)
    out: list[list[Match] | None] = [None] * matrix.shape[0]
    if len(pending):
        # The graph could not find enough (a filter it misses, rows it lost): answer exactly.
        exact_answers = exact(matrix[pending])
        for position, matches in zip(pending.tolist(), exact_answers, strict=True):
            out[position] = matches
    found = [(i, r) for i, r in enumerate(answers) if r is not None]
    for (position, _), matches in zip(
        found, _matches(conn, pin, [r for _, r in found], want), strict=True
    ):
        out[position] = matches
    return [m if m is not None else [] for m in out]


def _matches(
    conn: apsw.Connection, pin: Pin, per_query: list[Ranked], want: int
) -> list[list[Match]]:
    """Each query's best ``want`` in (distance, id) order, with ids, metadata and text read
    for all the queries in one statement."""
    payload = item_payloads(conn, pin, {r for ranked in per_query for _, r in ranked})
    metric = pin.collection.metric
    out = []
    for ranked in per_query:
        hits = sorted((d, payload[r][0], r) for d, r in ranked)[:want]
        out.append([match_of(metric, d, item_id, payload[r]) for d, item_id, r in hits])
    return out


def _cached(cache: BlockCache, pin: Pin, name: object, load: Callable[[], Sized]) -> Sized:
    """``load()``'s value for this collection version, kept in the store's block cache."""
    key = (pin.id, "ann", name)
    hit = cache.get(key)
    if hit is not None and hit[0] == pin.version:
        return hit[1]
    value = load()
    cache.put(key, pin.version, value)
    return value


def _rowids(conn: apsw.Connection, cache: BlockCache, pin: Pin) -> I64:
    """Every rowid of this snapshot, ascending (cached at its version)."""

    def load() -> Sized:
        rows = conn.execute(f"SELECT rowid FROM {items_table(pin.id)} ORDER BY rowid")
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    return cast(I64, _cached(cache, pin, "rowids", load))


def _allowed(
    conn: apsw.Connection, cache: BlockCache, pin: Pin, tree: FilterNode, rowids: I64
) -> I64:
    """The ``rowids`` that pass ``tree``, ascending: a numpy mask over metadata columns
    cached at this version (``columnar``, as the exact path does), or the filter's SQL where
    numpy cannot decide exactly."""
    table = items_table(pin.id)

    def column(field: str) -> FieldColumn:
        def load() -> Sized:
            # One aggregate row, in rowid order; `->` keeps each value's JSON as stored.
            expression = "id" if field == "id" else "metadata -> ?"
            row = conn.execute(
                f"SELECT json_group_array({expression} ORDER BY rowid) FROM {table}",
                () if field == "id" else (json_path(field),),
            ).fetchone()
            values = json.loads(row[0]) if row else []
            if field == "id":
                return FieldColumn.from_strings([str(v) for v in values])
            return FieldColumn.from_values(values)

        return cast(FieldColumn, _cached(cache, pin, ("field", field), load))

    mask = evaluate(tree, column, len(rowids))
    if mask is not None:
        passing: I64 = rowids[mask]
        return passing
    where, params = compile_filter(tree)
    rows = conn.execute(f"SELECT rowid FROM {table} WHERE {where} ORDER BY rowid", params)
    return np.fromiter((r[0] for r in rows), dtype=np.int64)


def _rescored(
    conn: apsw.Connection,
    pin: Pin,
    queries: F32,
    keys: I64,
    counts: I64,
    allowed: I64 | None,
    want: int,
) -> list[Ranked | None]:
    """Each query's best ``want`` candidates and every one tied with the last of them, as
    (distance, rowid), rescored from this snapshot's rows; None for a query with fewer
    than ``want`` valid candidates. The rows are read once for all the queries."""
    valid = np.arange(keys.shape[1])[np.newaxis, :] < counts[:, np.newaxis]
    if allowed is not None:
        valid &= np.isin(keys, allowed)
    rowids, vectors = _vectors(conn, pin, np.unique(keys[valid]))
    # Where each candidate is among the rows read; rows gone from this snapshot drop out.
    positions = np.minimum(np.searchsorted(rowids, keys), max(len(rowids) - 1, 0))
    if len(rowids):
        valid &= rowids[positions] == keys
    else:
        valid[:] = False
    distances = _distances(vectors, queries, positions, valid, pin.collection.metric)
    order = np.argsort(distances, axis=1, kind="stable")
    out: list[Ranked | None] = []
    for q, present in enumerate(valid.sum(axis=1).tolist()):
        if present < want:
            out.append(None)
            continue
        ranked = order[q, :present]
        ranked_distances = distances[q, ranked]
        # Every candidate tied with the last one kept, so that ties are broken by id.
        kept = ranked[ranked_distances <= ranked_distances[want - 1]]
        out.append(list(zip(distances[q, kept].tolist(), keys[q, kept].tolist(), strict=True)))
    return out


def _distances(vectors: F32, queries: F32, positions: I64, valid: Bool, metric: str) -> F64:
    """float64 distances of every (query, candidate) pair, ``inf`` where ``valid`` is false.

    Each query's candidates go through ``ranking.exact_distances``, the function of every
    exact path, so a distance is the exact search's to the last bit and never depends on
    which other candidates or queries came with it. One query at a time: its gathered rows
    (64 x 384 float64, 200 KB) stay in the CPU's cache, where one block gathered for all of
    a ``search_many``'s queries (20 MB) took 2.3x as long (measured, 100 queries).
    """
    out = np.full(positions.shape, np.inf, dtype=np.float64)
    if not len(vectors):
        return out
    for q in range(positions.shape[0]):
        distances = exact_distances(vectors[positions[q]], queries[q], metric)
        out[q] = np.where(valid[q], distances, np.inf)
    return out


def _vectors(conn: apsw.Connection, pin: Pin, wanted: I64) -> tuple[I64, F32]:
    """The rowids (ascending) and float32 vectors of the rows at ``wanted`` (ascending)
    that exist in this snapshot.

    Usually they all do, and then the vectors alone are read: their rowids are ``wanted``
    (a tuple and an int per row less, ~10% of the read). A candidate deleted since the graph
    caught up makes the count differ, and the rows are read again with their rowids."""
    dims = pin.collection.dimensions
    if not len(wanted):
        return wanted, np.empty((0, dims), dtype=np.float32)
    table = items_table(pin.id)
    where = "WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid"
    param = (json.dumps(wanted.tolist()),)
    rows = conn.execute(f"SELECT vector FROM {table} {where}", param).fetchall()
    rowids = wanted
    if len(rows) != len(wanted):
        with_rowids = conn.execute(f"SELECT rowid, vector FROM {table} {where}", param).fetchall()
        rowids = np.fromiter((r[0] for r in with_rowids), dtype=np.int64, count=len(with_rowids))
        rows = [r[1:] for r in with_rowids]
        if not rows:
            return rowids, np.empty((0, dims), dtype=np.float32)
    blob = b"".join(cast(bytes, r[0]) for r in rows)
    vectors: F32 = np.frombuffer(blob, dtype="<f4").reshape(-1, dims)
    return rowids, vectors
