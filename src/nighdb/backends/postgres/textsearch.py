"""Text and hybrid search on the pgvector backend (contract §14).

BM25 over the postings (``postings``), scored by ``nighdb.text`` exactly as on SQLite;
text-only search then fetches the payload of the best rows only. Hybrid search
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

from ...fusion import fuse, rank_candidates
from ...models import F32, Match
from ...ranking import exact_distances
from ...text import TextRanking, rank_text
from .driver_errors import ended_on_error
from .postings import postings_statement, scored_postings, term_key, text_postings
from .rows import Where
from .schema import Conn, Layout
from .search import Ranker, SearchPlan, candidates
from .vectorranks import ORACLE_METRICS, ranks_and_top, vector_ranks

__all__ = ["hybrid_search", "text_search"]


def text_search(
    conn: Conn, layout: Layout, collection_id: int, terms: list[str], k: int, where: Where | None
) -> list[Match]:
    """The top ``k`` items by BM25: ``score`` the BM25 score, ``distance`` its negation.

    The postings, then the payload of the best ``k``, in one snapshot and two round trips:
    the snapshot's ``BEGIN`` goes with the first statement and its ``COMMIT`` with the
    second, each pair sent as one pipeline (the values bound by the server, as everywhere:
    none is ever written into the statement's text). The two round trips this saves took
    ~0.25 ms of a ~1 ms search (docs/benchmarks.md, session 11)."""
    hashes = [term_key(t) for t in terms]
    query, params, prepare = postings_statement(layout, collection_id, hashes, where)
    with ended_on_error(conn):
        # A pipeline's exit sends its one Sync and reads every result: one round trip (an
        # explicit sync() inside would make the exit's Sync a second one).
        with conn.pipeline():
            conn.execute(_BEGIN_SNAPSHOT)
            found = conn.execute(query, params, prepare=prepare, binary=True)
        rows = found.fetchall()
        ranking = rank_text(*scored_postings(rows, hashes), limit=k)
        if not ranking.ids:
            conn.execute("COMMIT")
            return []
        payload_query, payload_params = _payload_statement(layout, collection_id, ranking.ids)
        with conn.pipeline():
            got = conn.execute(payload_query, payload_params)
            conn.execute("COMMIT")
        payload = _payload_rows(got.fetchall())
    return [
        Match(i, -score, score, *payload[i])
        for i, score in zip(ranking.ids, ranking.scores, strict=True)
    ]


_BEGIN_SNAPSHOT = sql.SQL("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")


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

        exact = plan.ef_search is None
        known: dict[str, tuple[int, float]] = {}  # ranks counted ahead of the question
        first = [exact and metric in ORACLE_METRICS]

        def vector_top(depth: int) -> list[tuple[float, str]]:
            if first[0]:
                first[0] = False
                wanted = _speculated(ranking, plan.limit, weight)
                if wanted is not None:
                    # The first depth and the ranks fusion will ask for, in one scan.
                    ranks, rows = ranks_and_top(
                        conn,
                        layout,
                        collection_id,
                        metric,
                        query,
                        wanted,
                        plan.where,
                        candidates(depth),
                    )
                    known.update(ranks or {})
                    return _reranked(rows, query, metric, depth)
            deeper = SearchPlan(query[np.newaxis, :], depth, plan.where, plan.ef_search)
            matches = ranker.search(conn, collection_id, metric, deeper)[0]
            return [(m.distance, m.id) for m in matches]

        def ranks_of(ids: list[str]) -> dict[str, tuple[int, float]] | None:
            if not exact:
                return None  # an approximate ranking has no exact rank to count
            if known and all(i in known for i in ids):
                return {i: known[i] for i in ids}
            return vector_ranks(conn, layout, collection_id, metric, query, ids, plan.where)

        hits = fuse(ranking, vector_top, plan.limit, weight, ranks_of)
        payload = _payload(conn, layout, collection_id, [h.id for h in hits])
    return [Match(h.id, h.distance, h.score, *payload[h.id]) for h in hits]


# Ranks counted ahead of fusion's question at most: more targets widen the scan's bands.
_MAX_SPECULATED = 64


def _speculated(ranking: TextRanking, limit: int, weight: float) -> list[str] | None:
    """The text items whose vector rank fusion may ask for after its first depth
    (``fusion.rank_candidates``), or None when there are too many (a high weight): fusion
    then asks for what it needs, after the first scan."""
    wanted = rank_candidates(ranking, limit, weight)
    return wanted if len(wanted) <= _MAX_SPECULATED else None


def _reranked(
    rows: list[tuple[str, F32]], query: F32, metric: str, depth: int
) -> list[tuple[float, str]]:
    """The first ``depth`` of the server's candidates by float64 (distance, id), as
    ``search.Ranker`` orders an exact search's candidates."""
    if not rows:
        return []
    distances = exact_distances(np.stack([v for _, v in rows]), query, metric).tolist()
    return sorted(zip(distances, (i for i, _ in rows), strict=True))[:depth]


def _snapshot(conn: Conn) -> None:
    # One snapshot for the statistics, the postings and the vector ranking.
    # work_mem for this transaction only: the rank oracle's table of 100k distances
    # (``vectorranks``) then stays in memory instead of spilling to a temporary file.
    conn.execute(
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL work_mem = '32MB'"
    )


def _payload(
    conn: Conn, layout: Layout, collection_id: int, ids: list[str]
) -> dict[str, tuple[dict[str, Any], str]]:
    if not ids:
        return {}
    return _payload_rows(conn.execute(*_payload_statement(layout, collection_id, ids)).fetchall())


def _payload_statement(
    layout: Layout, collection_id: int, ids: list[str]
) -> tuple[sql.Composed, list[object]]:
    """The payload of the items ``ids``, read by the collection's reader (``readers``)."""
    query = sql.SQL("SELECT * FROM {}(%s)").format(layout.payload_reader(collection_id))
    return query, [ids]


def _payload_rows(rows: list[Any]) -> dict[str, tuple[dict[str, Any], str]]:
    return {str(i): (json.loads(m), str(t)) for i, m, t in rows}
