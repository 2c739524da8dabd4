"""The exact vector rank of given items, counted in the server (``fusion.VectorRanks``).

Hybrid search needs the vector rank of the few text items that can still reach the top
(contract §14: 1 + the items passing the filter that come before it by (float64 distance,
id)). Reading the whole vector ranking to the client for them cost seconds at 100k items;
here one statement scans the collection once and sends back a histogram and a few rows.

pgvector computes distances in float32 sums, so its distance ``s`` of an item can differ
from the contract's float64 distance ``d``; by at most ``2 g/(1 - g)`` for cosine and a
relative ``g'/2`` (plus the square root of the subnormal rounding) for l2, with ``g =
n u/(1 - n u)``, ``g'`` the same for ``n + 2``, ``u = 2^-24``, ``n`` the dimensions: the
worst-case bounds of a float32 dot product and of a sum of squares, in any summation order
(so whatever SIMD pgvector was built with). Each target's band is the range of ``s`` in
which an item may be closer or farther than the target by ``d``; the client computes the
targets' ``d`` from their stored vectors, merges overlapping bands and sends their bounds
as one sorted ``float8[]``. ``width_bucket`` puts each scanned item in the interval between
those bounds that holds its ``s`` (a binary search); the server counts the items of each
gap and returns the items inside the bands (their ids and vectors), which are rescored in
float64 here (``ranking.exact_distances``) and compared with the target by (distance, id).
An item below a target's band is closer by ``d`` too, one above it farther.

Hybrid search's first scan also returns the first vector items (``ranks_and_top``). On a
large collection it first samples a few thousand rows' distances (``TABLESAMPLE SYSTEM``,
whole pages) to guess a distance below which at least that many items lie, then one scan
that PostgreSQL runs in parallel workers counts the buckets and keeps every item below the
guess as its own group (``_scan_below``); a guess too low is noticed (fewer items below it
than asked, and more items in all) and the collection scanned again the single-process way,
so the answer is the same either way, only its cost differs.

Returns None, and fusion reads the vector ranking instead (exact, slower), when the bounds
do not hold: inner product (its error scales with each stored vector's norm, unknown
without another pass), a distance that is not finite (float32 overflow), or, under cosine,
exactly 1 (pgvector's cosine of a vector whose float32 squared norm overflowed is 0). Under
cosine the bound also assumes no stored vector's squared norm is below float32's smallest
normal (~1e-38, a norm below ~1e-19), where pgvector's own norm loses its precision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from psycopg import sql
from psycopg.adapt import PyFormat

from ...models import F32
from ...ranking import exact_distances
from .filter import prepare_option
from .rows import Where, ids_where
from .schema import Conn, Layout

__all__ = ["ORACLE_METRICS", "ranks_and_top", "vector_ranks"]

ORACLE_METRICS = ("cosine", "l2")
"""The metrics whose float32 error pgvector's distances are bounded by here (see above)."""


_U32 = 2.0**-24  # float32's unit roundoff
# Covers the float64 side's own rounding (the targets' d, the bounds' arithmetic).
_SLACK = 1e-12


def _gamma(n: int) -> float:
    return n * _U32 / (1.0 - n * _U32)


def _band(metric: str, dims: int, distance: float) -> tuple[float, float]:
    """The server distances at which an item may be on either side of ``distance``."""
    if metric == "cosine":
        g = _gamma(dims)
        half = 2.0 * g / (1.0 - g) + _SLACK
        return distance - half, distance + half
    g = _gamma(dims + 2)
    relative = g / 2.0 + _SLACK
    # Squares below float32's normal range round to a multiple of 2^-149: dims of them.
    absolute = math.sqrt(dims * 2.0**-149) + _SLACK * distance
    return distance * (1.0 - relative) - absolute, distance * (1.0 + relative) + absolute


def vector_ranks(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    metric: str,
    query: F32,
    ids: list[str],
    where: Where | None,
) -> dict[str, tuple[int, float]] | None:
    """Each id's exact vector (rank, distance) among the items passing ``where`` (the ids
    pass it); None when the float32 bounds cannot be trusted (see above)."""
    if metric not in ORACLE_METRICS or not ids:
        return None if ids else {}
    return ranks_and_top(conn, layout, collection_id, metric, query, ids, where, 0)[0]


def ranks_and_top(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    metric: str,
    query: F32,
    ids: list[str],
    where: Where | None,
    top: int,
) -> tuple[dict[str, tuple[int, float]] | None, list[tuple[str, F32]]]:
    """``vector_ranks`` of ``ids`` (a metric of ``ORACLE_METRICS``), and from the same scan
    the (id, vector) of the ``top`` first items by the server's (distance, id): hybrid
    search's first vector items and the ranks it will ask for, in one pass."""
    table = layout.items(collection_id)
    target_ids: list[str] = []
    target_d: list[float] = []
    if ids:
        condition, params = ids_where(ids)
        found = conn.execute(
            sql.SQL("SELECT id, embedding FROM {} WHERE {}").format(table, condition),
            params,
            binary=True,
        ).fetchall()
        target_ids = [str(r[0]) for r in found]
        target_d = exact_distances(np.stack([r[1] for r in found]), query, metric).tolist()
    bands = [_band(metric, query.shape[0], d) for d in target_d]
    merged = _merge(bands)
    # Interval j (from 0) is [lo, hi): bucket 2j + 1; non-finite distances land last.
    bounds: list[float] = []
    for lo, hi in merged:
        bounds += [lo, math.nextafter(hi, math.inf)]
    bounds.append(math.inf)
    histogram, band_rows, top_rows = _scan(
        conn, layout, collection_id, metric, query, bounds, where, top
    )
    if histogram.get(len(bounds), 0):
        return None, top_rows  # a distance that is not finite
    below = np.cumsum([histogram.get(b, 0) for b in range(len(bounds) + 1)])
    rescored = _rescore(band_rows, query, metric)
    out: dict[str, tuple[int, float]] = {}
    for item_id, d, (lo, _) in zip(target_ids, target_d, bands, strict=True):
        j = next(j for j, (mlo, mhi) in enumerate(merged) if mlo <= lo <= mhi)
        closer = int(below[2 * j])  # the buckets 0 .. 2j: closer by d too
        own = (d, item_id)
        closer += sum(1 for other in rescored.get(2 * j + 1, []) if other < own)
        out[item_id] = (1 + closer, d)
    return out, top_rows


def _merge(bands: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for lo, hi in sorted(bands):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _scan(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    metric: str,
    query: F32,
    bounds: list[float],
    where: Where | None,
    top: int,
) -> tuple[dict[int, int], list[tuple[int, str, F32]], list[tuple[str, F32]]]:
    """One pass over the items passing ``where``: how many fall in each bucket, the
    (bucket, id, vector) of those inside a band (an odd bucket before the last), and the
    (id, vector) of the ``top`` first by (server distance, id)."""
    table = layout.items(collection_id)
    condition, where_params = (sql.SQL("true"), []) if where is None else where
    cosine_overflow = sql.SQL("")
    if metric == "cosine":
        cosine_overflow = sql.SQL(" OR s = 1.0::float8")
    if top:
        threshold = _top_threshold(conn, layout, collection_id, metric, query, where, top)
        if threshold is not None:
            answer = _scan_below(
                conn, layout, collection_id, metric, query, bounds, where, top, threshold
            )
            if answer is not None:
                return answer
    # The single-process way (small collections, or a guess that fell short): the
    # distances are computed once (a materialized CTE of each item's row address and
    # distance: a few dozen bytes, no ids, no vectors) and read twice; the vectors of the
    # band and top rows are then looked up by row address (LATERAL ... LIMIT 1, a TID scan),
    # not by joining the whole table. Within the top's margin (``search.candidates``) the
    # order of float32 ties does not matter: the caller re-ranks in float64, ties by id.
    if top:
        query_sql = sql.SQL(
            "WITH d AS MATERIALIZED (SELECT c, s, CASE WHEN s = 'NaN'::float8{overflow}"
            " THEN %s ELSE width_bucket(s, %s::float8[]) END AS b"
            " FROM (SELECT ctid AS c, {distance}(embedding, {q}) AS s FROM {table} AS t"
            " WHERE {condition} OFFSET 0) AS x)"
            " SELECT g.b, g.n, v.id, v.embedding FROM ("
            " SELECT b, CASE WHEN b %% 2 = 1 AND b < %s THEN c END AS h, count(*) AS n"
            " FROM d GROUP BY 1, 2) AS g LEFT JOIN LATERAL (SELECT id, embedding FROM {table}"
            " WHERE ctid = g.h LIMIT 1) AS v ON true"
            " UNION ALL SELECT -1, 0, v.id, v.embedding FROM ("
            " SELECT c FROM d ORDER BY s, c LIMIT %s) AS f CROSS JOIN LATERAL"
            " (SELECT id, embedding FROM {table} WHERE ctid = f.c LIMIT 1) AS v"
        )
    else:
        # Without the top, no CTE: the aggregate can then run in parallel workers.
        query_sql = sql.SQL(
            "SELECT g.b, g.n, v.id, v.embedding FROM ("
            " SELECT b, CASE WHEN b %% 2 = 1 AND b < %s THEN c END AS h, count(*) AS n"
            " FROM (SELECT c, CASE WHEN s = 'NaN'::float8{overflow} THEN %s"
            " ELSE width_bucket(s, %s::float8[]) END AS b"
            " FROM (SELECT ctid AS c, {distance}(embedding, {q}) AS s FROM {table} AS t"
            " WHERE {condition} OFFSET 0) AS x OFFSET 0) AS y GROUP BY 1, 2) AS g"
            " LEFT JOIN LATERAL (SELECT id, embedding FROM {table}"
            " WHERE ctid = g.h LIMIT 1) AS v ON true"
        )
    statement = query_sql.format(
        overflow=cosine_overflow,
        distance=layout.exact_distance(metric),
        q=sql.Placeholder(format=PyFormat.BINARY),
        table=table,
        condition=condition,
    )
    last = len(bounds)
    params: list[object] = [last, bounds, query, *where_params, last, top]
    if not top:
        params = [last, last, bounds, query, *where_params]
    return _buckets(
        conn.execute(statement, params, binary=True, prepare=prepare_option(where_params))
    )


def _buckets(
    rows: Iterable[tuple[Any, ...]],
) -> tuple[dict[int, int], list[tuple[int, str, F32]], list[tuple[str, F32]]]:
    """A scan's rows as (the count of each bucket, the band rows, the top rows): a top row
    has bucket -1, a band row an id."""
    histogram: dict[int, int] = {}
    band_rows: list[tuple[int, str, F32]] = []
    top_rows: list[tuple[str, F32]] = []
    for b, n, item_id, vector in rows:
        if b == -1:
            top_rows.append((str(item_id), vector))
            continue
        histogram[int(b)] = histogram.get(int(b), 0) + int(n)
        if item_id is not None:
            band_rows.append((int(b), str(item_id), vector))
    return histogram, band_rows, top_rows


def _rescore(
    rows: list[tuple[int, str, F32]], query: F32, metric: str
) -> dict[int, list[tuple[float, str]]]:
    """The band rows' float64 (distance, id), by bucket."""
    if not rows:
        return {}
    distances = exact_distances(np.stack([r[2] for r in rows]), query, metric).tolist()
    out: dict[int, list[tuple[float, str]]] = {}
    for (b, item_id, _), d in zip(rows, distances, strict=True):
        out.setdefault(b, []).append((d, item_id))
    return out


# The parallel scan (``_scan_below``) is tried on collections of at least this many rows
# (by the planner's estimate); smaller ones take the single-process scan, fast anyway.
_PARALLEL_MIN_ROWS = 20_000
# Rows of the estimate's sample (``TABLESAMPLE SYSTEM``: whole pages, cheap to read).
_SAMPLE_ROWS = 4_000


def _top_threshold(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    metric: str,
    query: F32,
    where: Where | None,
    top: int,
) -> float | None:
    """A server distance below which, very likely, at least ``top`` items passing ``where``
    lie (not many more), estimated from a sample of the table's pages; None when the table
    is small or the sample says too little. Only a guess: ``_scan_below`` checks it."""
    table = layout.items(collection_id)
    estimated = _estimated_rows(conn, table, query.shape[0])
    if estimated < max(_PARALLEL_MIN_ROWS, 1):
        return None
    fraction = min(1.0, _SAMPLE_ROWS / estimated)
    # The sample's expected count below the true top-th distance, plus four standard
    # deviations (a binomial count), plus a few: below that sampled distance, the whole
    # table holds at least ``top`` items but for a one-in-many-thousands sample.
    expected = fraction * top
    wanted = math.ceil(expected + 4.0 * math.sqrt(expected) + 4.0)
    condition, where_params = (sql.SQL("true"), []) if where is None else where
    rows = conn.execute(
        sql.SQL(
            "SELECT s FROM (SELECT {distance}(embedding, {q}) AS s FROM {table} AS t"
            " TABLESAMPLE SYSTEM (%s) WHERE {condition}) AS x"
            " WHERE s < 'Infinity'::float8 ORDER BY s LIMIT %s"
        ).format(
            distance=layout.exact_distance(metric),
            q=sql.Placeholder(format=PyFormat.BINARY),
            table=table,
            condition=condition,
        ),
        [query, 100.0 * fraction, *where_params, wanted],
        binary=True,
        prepare=False,
    ).fetchall()
    if len(rows) < wanted:
        return None  # a selective filter, or a small sample: no estimate worth a scan
    return float(rows[-1][0])


def _estimated_rows(conn: Conn, table: sql.Identifier, dims: int) -> float:
    """The table's rows as the planner would guess them: the density of its last ANALYZE
    times its pages now, or, never analyzed (a collection just loaded), its pages times
    the rows of this many dimensions a page holds."""
    row = conn.execute(
        "SELECT reltuples::float8, relpages::float8,"
        " pg_relation_size(oid)::float8 / current_setting('block_size')::float8"
        " FROM pg_class WHERE oid = %s::regclass",
        (table.as_string(conn),),
    ).fetchone()
    if row is None:
        return 0.0
    tuples, analyzed_pages, pages = (float(v or 0.0) for v in row)
    if tuples > 0 and analyzed_pages > 0:
        return tuples / analyzed_pages * pages
    return pages * max(1.0, 8_000.0 // (4 * dims + 64))


def _scan_below(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    metric: str,
    query: F32,
    bounds: list[float],
    where: Where | None,
    top: int,
    threshold: float,
) -> tuple[dict[int, int], list[tuple[int, str, F32]], list[tuple[str, F32]]] | None:
    """``_scan``'s answer from one scan that PostgreSQL can run in parallel workers: each
    item is counted in its bucket, and an item inside a band *or below* ``threshold`` is
    its own group, so the aggregate (the only part that reads the table) sends back the
    band rows, the rows below the threshold and the counts. The ``top`` first of the rows
    below the threshold are the ``top`` first of all when there are at least ``top`` of
    them; when there are fewer, None (the caller scans again without a threshold)."""
    table = layout.items(collection_id)
    condition, where_params = (sql.SQL("true"), []) if where is None else where
    cosine_overflow = sql.SQL(" OR s = 1.0::float8") if metric == "cosine" else sql.SQL("")
    statement = sql.SQL(
        "WITH g AS MATERIALIZED (SELECT b, CASE WHEN (b %% 2 = 1 AND b < %s) OR s < %s"
        " THEN c END AS h, min(s) AS s, count(*) AS n"
        " FROM (SELECT c, s, CASE WHEN s = 'NaN'::float8{overflow} THEN %s"
        " ELSE width_bucket(s, %s::float8[]) END AS b"
        " FROM (SELECT ctid AS c, {distance}(embedding, {q}) AS s FROM {table} AS t"
        " WHERE {condition} OFFSET 0) AS x OFFSET 0) AS y GROUP BY 1, 2)"
        " SELECT g.b, g.n, v.id, v.embedding FROM g LEFT JOIN LATERAL (SELECT id, embedding"
        " FROM {table} WHERE ctid = g.h AND g.b %% 2 = 1 AND g.b < %s LIMIT 1) AS v ON true"
        " UNION ALL SELECT -1, 0, v.id, v.embedding FROM ("
        " SELECT h FROM g WHERE h IS NOT NULL AND s < %s ORDER BY s, h LIMIT %s) AS f"
        " CROSS JOIN LATERAL (SELECT id, embedding FROM {table} WHERE ctid = f.h LIMIT 1) AS v"
    ).format(
        overflow=cosine_overflow,
        distance=layout.exact_distance(metric),
        q=sql.Placeholder(format=PyFormat.BINARY),
        table=table,
        condition=condition,
    )
    last = len(bounds)
    params: list[object] = [
        last,
        threshold,
        last,
        bounds,
        query,
        *where_params,
        last,
        threshold,
        top,
    ]
    # The workers send each row's address and distance (a few bytes) to the leader, which
    # aggregates: worth it whenever the distances cost more than the rows' transfer, which
    # the planner's default costs do not see (measured: 175 ms against 350 ms at 100k x
    # 384). For this transaction only.
    conn.execute(
        "SELECT set_config('parallel_tuple_cost', '0', true),"
        " set_config('parallel_setup_cost', '0', true)"
    )
    histogram, band_rows, top_rows = _buckets(
        conn.execute(statement, params, binary=True, prepare=False)
    )
    if len(top_rows) < top and sum(histogram.values()) > len(top_rows):
        return None
    return histogram, band_rows, top_rows
