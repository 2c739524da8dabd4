"""Text-only search's top ``k`` on the pgvector backend, scored in the server (contract §14).

Sending every posting of the query's terms to the client to score them cost most of a text
search (thousands of rows for ``k`` of them). Here the server sums BM25 in float8 with the
formula of ``nighdb.text.bm25_scores``, each term's idf computed by ``text.idf`` in Python
and sent as a parameter, and returns the best rows only. Its sum may run in another order
than Python's, so its scores can differ from the definition in the last bits: it returns
``k`` plus a margin of rows, and every row whose server score lies within ``_TOLERANCE``
(relative, far above float8 rounding over a few terms) of the ``k``-th is rescored in
Python by ``bm25_scores`` from its own postings, which the same statement returns. A row
below that band scores, by the definition too, below the ``k`` best. When the margin is
all ties (items of the same length and term frequencies score alike), the statement runs
again with four times the rows.
"""

from __future__ import annotations

import numpy as np
from psycopg import sql

from ...text import BM25_B, BM25_K1, I64, bm25_scores, idf
from .filter import prepare_option
from .postings import term_key, term_statistics
from .schema import Conn, Layout

__all__ = ["text_top"]

Where = tuple[sql.Composable, list[object]]

_MARGIN = 32
_TOLERANCE = 1e-9
_MAX_BIGINT = 2**63 - 1


def text_top(
    conn: Conn, layout: Layout, collection_id: int, terms: list[str], k: int, where: Where | None
) -> tuple[list[str], list[float]]:
    """The items of the ``k`` best BM25 scores, at least, that pass ``where`` (ids and
    scores by ``bm25_scores``, unordered): ties at the ``k``-th score are all included."""
    hashes = [term_key(t) for t in terms]
    n_items, total_length, dfs = term_statistics(conn, layout, collection_id, hashes)
    present = [h for h in hashes if h in dfs]
    if not present or n_items <= 0:
        return [], []
    idfs = [idf(n_items, dfs[h]) for h in present]
    fetch = min(k + _MARGIN, _MAX_BIGINT)
    while True:
        rows = _best_rows(
            conn, layout, collection_id, present, idfs, total_length / n_items, fetch, where
        )
        if len(rows) < fetch or float(rows[-1][1]) < _floor(float(rows[k - 1][1])):
            break
        fetch = min(fetch * 4, _MAX_BIGINT)
    if len(rows) > k:
        floor = _floor(float(rows[k - 1][1]))
        rows = [r for r in rows if float(r[1]) >= floor]
    return _rescored(rows, present, dfs, n_items, total_length)


def _floor(kth: float) -> float:
    """The lowest server score that may still be among the ``k`` best by the definition."""
    return kth - _TOLERANCE * abs(kth) - 1e-300


def _best_rows(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    hashes: list[bytes],
    idfs: list[float],
    avg_length: float,
    fetch: int,
    where: Where | None,
) -> list[tuple[str, float, list[int], list[int], int]]:
    """(id, server score, term positions, term frequencies, length) of the ``fetch`` best
    rows by the server's score."""
    # The expression of bm25_scores, operation for operation (float8 is IEEE binary64).
    score = sql.SQL(
        "sum(w.idf * (p.tf * %s::float8) / (p.tf + %s::float8 * "
        "(1.0::float8 - %s::float8 + %s::float8 * (p.length / %s::float8))))"
    )
    constants: list[object] = [BM25_K1 + 1.0, BM25_K1, BM25_B, BM25_B, avg_length]
    join: sql.Composable = sql.SQL("")
    filtered: sql.Composable = sql.SQL("")
    where_params: list[object] = []
    if where is not None:
        join = sql.SQL(" JOIN {} AS t ON t.id_hash = p.item_hash").format(
            layout.items(collection_id)
        )
        filtered = sql.SQL(" WHERE {}").format(where[0])
        where_params = where[1]
    query = sql.SQL(
        "SELECT p.item, {score} AS s, array_agg(w.ord), array_agg(p.tf), max(p.length) "
        "FROM unnest(%s::bytea[], %s::float8[]) WITH ORDINALITY AS w(h, idf, ord) "
        "JOIN {postings} AS p ON p.term_hash = w.h{join}{filtered} "
        "GROUP BY p.item_hash, p.item ORDER BY s DESC LIMIT %s"
    ).format(score=score, postings=layout.postings(collection_id), join=join, filtered=filtered)
    params = [*constants, hashes, idfs, *where_params, fetch]
    return [
        (str(item), float(s), list(ords), list(tfs), int(length))
        for item, s, ords, tfs, length in conn.execute(
            query, params, prepare=prepare_option(where_params)
        )
    ]


def _rescored(
    rows: list[tuple[str, float, list[int], list[int], int]],
    hashes: list[bytes],
    dfs: dict[bytes, int],
    n_items: int,
    total_length: int,
) -> tuple[list[str], list[float]]:
    """The rows' scores by the one definition (``bm25_scores``), from their postings."""
    per_term: list[list[tuple[int, int, int]]] = [[] for _ in hashes]
    for key, (_, _, ords, tfs, length) in enumerate(rows):
        for ord_, tf in zip(ords, tfs, strict=True):
            per_term[int(ord_) - 1].append((key, int(tf), length))
    parts: list[tuple[int, I64, I64, I64]] = []
    for h, postings in zip(hashes, per_term, strict=True):
        arr = np.array(postings, dtype=np.int64).reshape(-1, 3)
        parts.append((dfs[h], arr[:, 0], arr[:, 1], arr[:, 2]))
    keys, scores = bm25_scores(n_items, total_length, parts)
    return [rows[k][0] for k in keys.tolist()], scores.tolist()
