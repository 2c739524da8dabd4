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
from typing import cast

import apsw
import numpy as np
import numpy.typing as npt

from ...filters import FilterNode
from ...models import F32, Match, score_for
from ...ranking import Hit, exact_distances
from .ann import DEFAULT_EF_SEARCH, HnswGraph
from .cache import BlockCache
from .filter import compile_filter
from .schema import Pin, count_rows, items_table
from .search import search_collection

__all__ = ["DEFAULT_EXACT_BELOW", "EXACT_SHARE", "search_with_graph"]

DEFAULT_EXACT_BELOW = 2_000
"""Below this many matching items a search is exact (a scan of so few rows is fast)."""
EXACT_SHARE = 0.02
"""A filter passing less than this share of the collection is searched exactly: the graph
would have to propose more than 50 candidates for each one that passes."""

I64 = npt.NDArray[np.int64]


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
) -> list[list[Match]]:
    """The (approximate) top ``k`` of each query, ``min(k, matches)`` hits each, exact
    distances, (distance, id) order."""
    table = items_table(pin.id)
    total = count_rows(conn, table)
    allowed: I64 | None = None
    matching = total
    if tree is not None:
        where, params = compile_filter(tree)
        rows = conn.execute(f"SELECT rowid FROM {table} WHERE {where} ORDER BY rowid", params)
        allowed = np.fromiter((r[0] for r in rows), dtype=np.int64)
        matching = len(allowed)
    if matching < exact_below or matching < EXACT_SHARE * total or matching == 0:
        return search_collection(conn, cache, pin, matrix, k, tree)
    want = min(k, matching)
    ef = DEFAULT_EF_SEARCH if ef_search is None else ef_search
    # The beam holds ``ef`` candidates anyway: rescoring all of them exactly costs little and
    # recovers neighbours the float32 graph ranked just below the cut (and tied ids).
    count = max(want, ef)
    if allowed is not None:
        count = math.ceil(count * total / matching * 1.25) + 8
    answers: list[list[Hit] | None] = [None] * matrix.shape[0]
    pending = np.arange(matrix.shape[0])
    while len(pending):
        with graph.lock:
            keys, counts = graph.candidates(matrix[pending], count, ef)
            size = len(graph)
        hits = _rescored(conn, pin, matrix[pending], keys, counts, allowed)
        short = []
        for position, query_hits in zip(pending.tolist(), hits, strict=True):
            if len(query_hits) >= want:
                answers[position] = query_hits[:want]
            else:
                short.append(position)
        pending = np.asarray(short, dtype=np.int64)
        if count >= size:
            break
        count = min(count * 4, size)
    out: list[list[Match] | None] = [None] * matrix.shape[0]
    if len(pending):
        # The graph could not find enough (a filter it misses, rows it lost): answer exactly.
        exact = search_collection(conn, cache, pin, matrix[pending], k, tree)
        for position, matches in zip(pending.tolist(), exact, strict=True):
            out[position] = matches
    found = [(i, h) for i, h in enumerate(answers) if h is not None]
    for (position, _), matches in zip(
        found, _matches(conn, pin, [h for _, h in found]), strict=True
    ):
        out[position] = matches
    return [m if m is not None else [] for m in out]


def _rescored(
    conn: apsw.Connection,
    pin: Pin,
    queries: F32,
    keys: I64,
    counts: I64,
    allowed: I64 | None,
) -> list[list[Hit]]:
    """Each query's valid candidates, rescored from this snapshot's rows, in contract order."""
    valid = np.arange(keys.shape[1])[np.newaxis, :] < counts[:, np.newaxis]
    if allowed is not None:
        valid &= np.isin(keys, allowed)
    wanted = np.unique(keys[valid])
    rowids, ids, vectors = _vectors(conn, pin, wanted)
    metric = pin.collection.metric
    out: list[list[Hit]] = []
    for q in range(queries.shape[0]):
        positions = _present(rowids, keys[q][valid[q]])
        distances = exact_distances(vectors[positions], queries[q], metric)
        out.append(
            sorted(
                (float(d), ids[p], int(rowids[p]))
                for d, p in zip(distances.tolist(), positions.tolist(), strict=True)
            )
        )
    return out


def _present(rowids: I64, candidates: I64) -> I64:
    """Positions in sorted ``rowids`` of the candidates that exist in this snapshot."""
    positions = np.searchsorted(rowids, candidates)
    inside = positions < len(rowids)
    positions, candidates = positions[inside], candidates[inside]
    found: I64 = positions[rowids[positions] == candidates]
    return found


def _vectors(conn: apsw.Connection, pin: Pin, wanted: I64) -> tuple[I64, list[str], F32]:
    dims = pin.collection.dimensions
    if not len(wanted):
        return np.empty(0, dtype=np.int64), [], np.empty((0, dims), dtype=np.float32)
    rows = conn.execute(
        f"SELECT rowid, id, vector FROM {items_table(pin.id)} "
        "WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid",
        (json.dumps(wanted.tolist()),),
    ).fetchall()
    rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    ids = [str(r[1]) for r in rows]
    if not rows:
        return rowids, ids, np.empty((0, dims), dtype=np.float32)
    blob = b"".join(cast(bytes, r[2]) for r in rows)
    return rowids, ids, np.frombuffer(blob, dtype="<f4").reshape(-1, dims).astype(np.float32)


def _matches(conn: apsw.Connection, pin: Pin, per_query: list[list[Hit]]) -> list[list[Match]]:
    """The hits with their metadata and text, read in one statement."""
    rowids = sorted({r for hits in per_query for _, _, r in hits})
    payload: dict[int, tuple[str, str]] = {}
    if rowids:
        for rowid, meta, text in conn.execute(
            f"SELECT rowid, json(metadata), text FROM {items_table(pin.id)} "
            "WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(rowids),),
        ):
            payload[int(rowid)] = (str(meta), str(text))
    metric = pin.collection.metric
    return [
        [
            Match(
                id=item_id,
                distance=dist,
                score=score_for(metric, dist),
                metadata=json.loads(payload[rowid][0]),
                text=payload[rowid][1],
            )
            for dist, item_id, rowid in hits
        ]
        for hits in per_query
    ]
