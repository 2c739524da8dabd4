"""Text-only search's top ``k`` on the pgvector backend, scored in the server (contract §14).

Sending every posting of the query's terms to the client to score them cost most of a text
search (thousands of rows for ``k`` of them), and the statistics, the document frequencies
and the payload each cost a round trip more. Here one statement (one snapshot) does it all:
the server sums BM25 in float8 with the formula of ``nighdb.text.bm25_scores``, and returns
the best rows only, each with its postings of the query terms, its text and metadata, and
the statistics (N, total length, each term's document frequency). Its sum may run in
another order than Python's, and its ``ln`` may differ from Python's in the last bits, so
its scores are only a filter: every row whose server score lies within ``_TOLERANCE``
(relative, far above float8 rounding over a few terms) of the ``k``-th is rescored in
Python by ``bm25_scores`` from the returned postings and statistics, the one definition. A
row below that band scores, by the definition too, below the ``k`` best. When the margin
of ``k + 32`` rows is all ties (items of the same length and term frequencies score alike)
the statement runs again with four times the rows. Only the rows within twice that tolerance
of the ``k``-th carry their id, metadata and text: the margin is there for its scores, and
fetching the payload of every row of it cost about half of the statement's execution
(measured: 42 index lookups of the items for 10 results).

The postings are the live ones of the query's terms in the segments
(``textsegments.LIVE_POSTINGS``: unnested, those a tombstone covers dropped), read once for
the document frequencies and the scores; a row's item is found by the hash of its id.
"""

from __future__ import annotations

import numpy as np
from psycopg import sql

from ...text import BM25_B, BM25_K1, I64, bm25_scores
from .filter import prepare_option
from .postings import live_postings, term_key
from .schema import Conn, Layout, id_hash

__all__ = ["TextHit", "text_top"]

Where = tuple[sql.Composable, list[object]]

TextHit = tuple[str, float, str, str]
"""An item of the result: id, BM25 score, metadata JSON and text."""

_MARGIN = 32
_TOLERANCE = 1e-9
_MAX_BIGINT = 2**63 - 1

# A returned row: id, server score, its frequency of each query term (0: absent), length,
# metadata JSON, text, and the statistics (N, total length, each term's document frequency).
# A row below the payload's band (see the module's docstring) has no id, metadata or text.
_Row = tuple[str | None, float, list[int], int, str | None, str | None, int, int, list[int]]


def text_top(
    conn: Conn, layout: Layout, collection_id: int, terms: list[str], k: int, where: Where | None
) -> list[TextHit]:
    """The top ``k`` items by BM25 among those that pass ``where``, best first, ties by id."""
    hashes = [term_key(t) for t in terms]
    fetch = min(k + _MARGIN, _MAX_BIGINT)
    while True:
        rows = _best_rows(conn, layout, collection_id, hashes, fetch, where, k)
        if len(rows) < fetch or rows[-1][1] < _floor(rows[k - 1][1]):
            break
        fetch = min(fetch * 4, _MAX_BIGINT)
    if len(rows) > k:
        floor = _floor(rows[k - 1][1])
        rows = [r for r in rows if r[1] >= floor]
    return _rescored(_with_payload(rows), len(hashes), k)


def _floor(kth: float) -> float:
    """The lowest server score that may still be among the ``k`` best by the definition."""
    return kth - _TOLERANCE * abs(kth) - 1e-300


# The server sends the payload of the rows down to this floor, the same expression with
# twice the tolerance: a superset of the rows ``_floor`` keeps, whatever the last bits.
_PAYLOAD_FLOOR = sql.SQL("{kth} - {tolerance}::float8 * abs({kth}) - 1e-300::float8")


def _best_rows(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    hashes: list[bytes],
    fetch: int,
    where: Where | None,
    k: int,
) -> list[_Row]:
    """The ``fetch`` best rows by the server's score, those in the band of the ``k``-th with
    their payload (see the module's docstring)."""
    items = layout.items(collection_id)
    filtered: sql.Composable = sql.SQL("")
    where_params: list[object] = []
    if where is not None:
        filtered = sql.SQL(
            " AND EXISTS (SELECT 1 FROM {} AS t WHERE t.id_hash = {} AND ({}))"
        ).format(items, id_hash(sql.SQL("l.item")), where[0])
        where_params = where[1]
    query = sql.SQL(
        "WITH st AS (SELECT text_items, text_length, nullif(text_items, 0)::float8 AS n"
        " FROM {collections} WHERE id = %s),"
        # The live postings of the query's terms, read once (document frequencies and scores).
        " live AS MATERIALIZED ({live}),"
        " w AS (SELECT w.h, w.ord, (SELECT count(*) FROM live AS c"
        " WHERE c.term_hash = w.h) AS df FROM unnest(%s::bytea[]) WITH ORDINALITY AS w(h, ord)),"
        " s AS (SELECT w.*, ln(1.0::float8 + (st.n - w.df + 0.5::float8) / (w.df + 0.5::float8))"
        " AS idf, st.text_length / st.n AS avg FROM w, st),"
        # The expression of bm25_scores, operation for operation (float8 is IEEE binary64).
        " best AS (SELECT l.item, sum(s.idf * (l.tf * %s::float8) / (l.tf + %s::float8 *"
        " (1.0::float8 - %s::float8 + %s::float8 * (l.length / s.avg)))) AS score,"
        " {tfs}, max(l.length) AS length"
        " FROM s JOIN live AS l ON l.term_hash = s.h WHERE true{filtered}"
        " GROUP BY l.item ORDER BY score DESC LIMIT %s),"
        # The k-th best score; none when fewer rows match, and then every row is in the band.
        " kth AS (SELECT coalesce((SELECT score FROM best ORDER BY score DESC"
        " OFFSET %s LIMIT 1), '-Infinity'::float8) AS score)"
        " SELECT t.id, b.score, ARRAY[{tf_columns}], b.length, t.metadata_json, t.text,"
        " (SELECT text_items FROM st), (SELECT text_length FROM st),"
        " (SELECT array_agg(df ORDER BY ord) FROM w)"
        # In the lateral subquery (kept one by its LIMIT: the planner would flatten it into
        # a join) the band's test reads only the outer row, so the server checks it before
        # the index lookup (a one-time filter); as a join condition it ran after it.
        " FROM best AS b CROSS JOIN kth LEFT JOIN LATERAL (SELECT t.id, t.metadata_json, t.text"
        " FROM {items} AS t WHERE t.id_hash = {item_hash} AND b.score >= {payload_floor} LIMIT 1)"
        " AS t ON true ORDER BY b.score DESC"
    ).format(
        payload_floor=_PAYLOAD_FLOOR.format(
            kth=sql.SQL("kth.score"), tolerance=sql.Literal(2 * _TOLERANCE)
        ),
        collections=layout.collections,
        live=live_postings(layout, collection_id, sql.SQL("%s::bytea[]")),
        items=items,
        item_hash=id_hash(sql.SQL("b.item")),
        filtered=filtered,
        # Each term's frequency in its own column: plain aggregates, where array_agg's
        # per-group state cost most of the statement (measured).
        tfs=sql.SQL(", ").join(
            sql.SQL("coalesce(max(l.tf) FILTER (WHERE s.ord = {}), 0) AS {}").format(
                sql.Literal(j + 1), sql.Identifier(f"tf{j}")
            )
            for j in range(len(hashes))
        ),
        tf_columns=sql.SQL(", ").join(
            sql.SQL("b.{}").format(sql.Identifier(f"tf{j}")) for j in range(len(hashes))
        ),
    )
    params = [
        collection_id,
        hashes,
        hashes,
        BM25_K1 + 1.0,
        BM25_K1,
        BM25_B,
        BM25_B,
        *where_params,
        fetch,
        k - 1,
    ]
    return [
        (
            None if r[0] is None else str(r[0]),
            float(r[1]),
            [int(tf) for tf in r[2]],
            int(r[3]),
            None if r[4] is None else str(r[4]),
            None if r[5] is None else str(r[5]),
            int(r[6]),
            int(r[7]),
            [int(d) for d in r[8]],
        )
        for r in conn.execute(query, params, prepare=prepare_option(where_params))
    ]


# A row of the payload's band: its id, metadata and text are there.
_Banded = tuple[str, float, list[int], int, str, str, int, int, list[int]]


def _with_payload(rows: list[_Row]) -> list[_Banded]:
    """The rows, every one within the payload's band now, with their payload. A row
    without an id has no item, which cannot happen (a posting never outlives its item: the
    writes keep both in one transaction); it is left out, as the inner join used to."""
    return [
        (r[0], r[1], r[2], r[3], r[4] or "", r[5] or "", r[6], r[7], r[8])
        for r in rows
        if r[0] is not None
    ]


def _rescored(rows: list[_Banded], n_terms: int, k: int) -> list[TextHit]:
    """The rows' scores by the one definition (``bm25_scores``), from their postings and
    the statistics of the same snapshot; the best ``k`` of them."""
    if not rows:
        return []
    n_items, total_length, dfs = rows[0][6], rows[0][7], rows[0][8]
    per_term: list[list[tuple[int, int, int]]] = [[] for _ in range(n_terms)]
    for key, row in enumerate(rows):
        for j, tf in enumerate(row[2]):
            if tf:
                per_term[j].append((key, tf, row[3]))
    parts: list[tuple[int, I64, I64, I64]] = []
    for df, postings in zip(dfs, per_term, strict=True):
        arr = np.array(postings, dtype=np.int64).reshape(-1, 3)
        parts.append((df, arr[:, 0], arr[:, 1], arr[:, 2]))
    keys, scores = bm25_scores(n_items, total_length, parts)
    order = sorted(range(len(keys)), key=lambda j: (-float(scores[j]), rows[int(keys[j])][0]))
    return [
        (rows[int(keys[j])][0], float(scores[j]), rows[int(keys[j])][4], rows[int(keys[j])][5])
        for j in order[:k]
    ]
