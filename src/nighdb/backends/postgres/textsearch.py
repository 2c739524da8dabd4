"""Text and hybrid search on the pgvector backend (contract §14).

BM25 over the postings (``postings``), scored by ``nighdb.text`` exactly as on SQLite
(text-only search lets the server pick the best rows first: ``textrank``). Hybrid search
fuses it with this backend's exact vector ranking (``search.Ranker``, read only as deep as
``nighdb.fusion`` needs, and the server counting the vector rank of the text items that
can still reach the top: ``vectorranks``) inside one repeatable-read transaction, so both
rankings and the statistics come from one snapshot.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from psycopg import sql

from ...fusion import fuse
from ...models import F32, Match
from ...text import rank_text
from .postings import text_postings
from .rows import ids_where
from .schema import Conn, Layout
from .search import Ranker, SearchPlan
from .textrank import text_top
from .vectorranks import vector_ranks

__all__ = ["hybrid_search", "text_search"]

Where = tuple[sql.SQL, list[object]]


def text_search(
    conn: Conn, layout: Layout, collection_id: int, terms: list[str], k: int, where: Where | None
) -> list[Match]:
    """The top ``k`` items by BM25: ``score`` the BM25 score, ``distance`` its negation.
    One statement (``textrank``), so one snapshot without a transaction of its own."""
    return [
        Match(item_id, -score, score, json.loads(metadata), text)
        for item_id, score, metadata, text in text_top(conn, layout, collection_id, terms, k, where)
    ]


def hybrid_search(
    conn: Conn,
    layout: Layout,
    ranker: Ranker,
    collection_id: int,
    metric: str,
    query: F32,
    terms: list[str],
    weight: float,
    plan: SearchPlan,
) -> list[Match]:
    """Reciprocal rank fusion of the vector and text rankings: ``score`` the fused score,
    ``distance`` the vector distance."""
    with conn.transaction():
        _snapshot(conn)
        if terms:
            ids, scores = text_postings(conn, layout, collection_id, terms, plan.where)
        else:
            ids, scores = [], np.empty(0, dtype=np.float64)
        ranking = rank_text(ids, scores)

        def vector_top(depth: int) -> list[tuple[float, str]]:
            deeper = SearchPlan(query[np.newaxis, :], depth, plan.where, plan.ef_search)
            matches = ranker.search(conn, collection_id, metric, deeper)[0]
            return [(m.distance, m.id) for m in matches]

        def ranks_of(ids: list[str]) -> dict[str, tuple[int, float]] | None:
            if plan.ef_search is not None:
                return None  # an approximate ranking has no exact rank to count
            return vector_ranks(conn, layout, collection_id, metric, query, ids, plan.where)

        hits = fuse(ranking, vector_top, plan.limit, weight, ranks_of)
        payload = _payload(conn, layout, collection_id, [h.id for h in hits])
    return [Match(h.id, h.distance, h.score, *payload[h.id]) for h in hits]


def _snapshot(conn: Conn) -> None:
    # One snapshot for the statistics, the postings and the vector ranking.
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def _payload(
    conn: Conn, layout: Layout, collection_id: int, ids: list[str]
) -> dict[str, tuple[dict[str, Any], str]]:
    if not ids:
        return {}
    condition, params = ids_where(ids)
    rows = conn.execute(
        sql.SQL("SELECT id, metadata_json, text FROM {} WHERE {}").format(
            layout.items(collection_id), condition
        ),
        params,
    ).fetchall()
    return {str(i): (json.loads(m), str(t)) for i, m, t in rows}
