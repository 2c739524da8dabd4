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
from ...ranking import Hit
from .ann import DEFAULT_EF_SEARCH, HnswGraph
from .cache import BlockCache, Sized
from .columnar import FieldColumn, evaluate
from .filter import compile_filter, json_path
from .schema import Pin, items_table
from .search import hit_matches

__all__ = ["DEFAULT_EXACT_BELOW", "EXACT_SHARE", "search_with_graph"]

DEFAULT_EXACT_BELOW = 2_000
"""Below this many matching items a search is exact (a scan of so few rows is fast)."""
EXACT_SHARE = 0.02
"""A filter passing less than this share of the collection is searched exactly: the graph
would have to propose more than 50 candidates for each one that passes."""

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


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
    answers: list[list[Hit] | None] = [None] * matrix.shape[0]
    pending = np.arange(matrix.shape[0])
    while len(pending):
        with graph.lock:
            keys, counts = graph.candidates(matrix[pending], count, ef)
            size = len(graph)
        hits = _rescored(conn, pin, matrix[pending], keys, counts, allowed, want)
        # A beam as wide as the graph that still came back short met nodes no edge leads to
        # (pruning can strand one, e.g. points on a line): only the exact search sees them.
        stranded = (counts < size).tolist() if count >= size else [False] * len(pending)
        short = []
        for position, query_hits, lost in zip(pending.tolist(), hits, stranded, strict=True):
            if query_hits is not None and not lost:
                answers[position] = query_hits
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
    found = [(i, h) for i, h in enumerate(answers) if h is not None]
    for (position, _), matches in zip(
        found, hit_matches(conn, pin, [h for _, h in found]), strict=True
    ):
        out[position] = matches
    return [m if m is not None else [] for m in out]


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
) -> list[list[Hit] | None]:
    """Each query's best ``want`` candidates, rescored from this snapshot's rows, in
    contract order; None for a query with fewer than ``want`` valid candidates."""
    valid = np.arange(keys.shape[1])[np.newaxis, :] < counts[:, np.newaxis]
    if allowed is not None:
        valid &= np.isin(keys, allowed)
    rowids, ids, vectors = _vectors(conn, pin, np.unique(keys[valid]))
    # Where each candidate is among the rows read; rows gone from this snapshot drop out.
    positions = np.minimum(np.searchsorted(rowids, keys), max(len(rowids) - 1, 0))
    if len(rowids):
        valid &= rowids[positions] == keys
    else:
        valid[:] = False
    distances = _distances(vectors, queries, positions, valid, pin.collection.metric)
    order = np.argsort(distances, axis=1, kind="stable")
    out: list[list[Hit] | None] = []
    for q, present in enumerate(valid.sum(axis=1).tolist()):
        if present < want:
            out.append(None)
            continue
        ranked = order[q, :present]
        cut = distances[q, ranked[want - 1]]
        # Every candidate tied with the last one kept, so that ties are broken by id.
        chosen = ranked[distances[q, ranked] <= cut].tolist()
        hits = sorted(
            (float(distances[q, c]), ids[positions[q, c]], int(keys[q, c])) for c in chosen
        )
        out.append(hits[:want])
    return out


# Elements of a gathered (queries x candidates x dims) block: bounds its memory (32 MiB).
_GATHER_ELEMENTS = 4 * 1024 * 1024


def _distances(vectors: F32, queries: F32, positions: I64, valid: Bool, metric: str) -> F64:
    """float64 distances of every (query, candidate) pair, all queries at once; ``inf`` where
    ``valid`` is false. The formulas and summation order are ``ranking.exact_distances``'s
    for each pair, so a distance never depends on which other candidates came with it."""
    out = np.full(positions.shape, np.inf, dtype=np.float64)
    if not len(vectors):
        return out
    x = vectors.astype(np.float64)
    q64 = queries.astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    qnorms = np.linalg.norm(q64, axis=1)
    per_query = max(1, positions.shape[1] * x.shape[1])
    step = max(1, _GATHER_ELEMENTS // per_query)
    for start in range(0, positions.shape[0], step):
        rows = slice(start, start + step)
        gathered = x[positions[rows]]  # (queries, candidates, dims)
        if metric == "l2":
            diff = gathered - q64[rows, np.newaxis, :]
            block = np.sqrt(np.einsum("qcd,qcd->qc", diff, diff))
        else:
            dots = np.einsum("qcd,qd->qc", gathered, q64[rows])
            if metric == "ip":
                block = -dots
            else:
                denom = norms[positions[rows]] * qnorms[rows, np.newaxis]
                block = np.clip(1.0 - dots / denom, 0.0, 2.0)
        out[rows] = np.where(valid[rows], block, np.inf)
    return out


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
