"""Text and hybrid search on the embedded backend (contract §14).

The text ranking is BM25 over the postings (``textindex``), scored by ``nighdb.text`` like
on every backend; hybrid search fuses it with this backend's exact vector ranking through
``nighdb.fusion``, which reads the vector ranking only as deep as the exact answer needs.
On the cached float32 copy the query's keys are computed once (``ranking.QueryKeys``) and
give fusion both the first vector items and the exact vector rank of any text item, so the
whole vector ranking is never built there. With the int8 copy, or none (streamed), the ranks
come from one streamed pass that counts, per chunk, the rows closer than each text item
(``search.streamed_ranks``): still a read of every row, but no float64 ordering of them.
Streamed, that pass also keeps the first vector items, for the text items named before any
vector is read (``fusion.rank_candidates``), so the file is read once.
"""

from __future__ import annotations

import json
from typing import Any, cast

import apsw
import numpy as np

from ...filters import FilterNode
from ...fusion import fuse, rank_candidates, ranked_depth
from ...models import F32, Match
from ...ranking import VectorBlock, ordered_hits
from ...text import F64, I64, TextRanking, contenders, rank_text
from .cache import BlockCache
from .schema import Pin, count_rows, items_table
from .search import query_keys, streamed_ranks, streams, vector_hits
from .textindex import text_postings

__all__ = ["hybrid_search", "text_search"]

# The most text items ranked in the streamed pass ahead of fusion: each costs two
# comparisons over every chunk's keys (a text weight near 1 can make hundreds of candidates,
# of which fusion then asks for a few; those get a second pass instead).
_EARLY_RANKS = 64


def text_search(
    conn: apsw.Connection, pin: Pin, terms: list[str], k: int, tree: FilterNode | None
) -> list[Match]:
    """The top ``k`` items by BM25: ``score`` the BM25 score, ``distance`` its negation."""
    rowids, scores = text_postings(conn, pin.id, terms, tree)
    # Only the contenders are named (a statement per call reads their ids).
    keep = contenders(scores, k)
    rowids, scores = rowids[keep], scores[keep]
    ranking = _ranking(conn, pin, rowids, scores, {})
    payload = _payload(conn, pin, ranking.ids[:k])
    return [
        Match(item_id, -score, score, *payload[item_id])
        for item_id, score in zip(ranking.ids[:k], ranking.scores[:k], strict=True)
    ]


def hybrid_search(
    conn: apsw.Connection,
    cache: BlockCache,
    pin: Pin,
    query: F32,
    terms: list[str],
    weight: float,
    k: int,
    tree: FilterNode | None,
    *,
    precision: str = "auto",
    db_path: str | None = None,
) -> list[Match]:
    """Reciprocal rank fusion of the vector and text rankings: ``score`` the fused score,
    ``distance`` the vector distance."""
    rowids, scores = text_postings(conn, pin.id, terms, tree) if terms else _nothing()
    matrix = query[np.newaxis, :]
    items = count_rows(conn, items_table(pin.id))

    # The float32 keys of the query, computed once for both the top and the ranks.
    keys = query_keys(conn, cache, pin, query, tree, precision=precision)
    position_of: dict[str, int] = {}
    rowid_of: dict[str, int] = {}
    if keys is not None:
        # The cached block holds this snapshot's ids: no statement to name the text items.
        ranking = _ranking_in_block(keys.block, rowids, scores, position_of)
    else:
        ranking = _ranking(conn, pin, rowids, scores, rowid_of)

    # Streamed (no copy fits the budget): every search reads the whole file, so one pass
    # gives both the first vector items and the ranks fusion may ask for.
    early_top: tuple[int, list[tuple[float, str]]] | None = None
    early_ranks: dict[str, tuple[int, float]] = {}
    if keys is None and streams(conn, cache, pin, precision=precision, db_path=db_path):
        wanted = rank_candidates(ranking, k, weight)
        depth = min(ranked_depth(k), items)
        if len(wanted) <= _EARLY_RANKS:
            found = streamed_ranks(conn, pin, query, tree, [rowid_of[i] for i in wanted], depth)
            if found is not None:
                ranks, distances, top = found
                early_top = (depth, [(d, i) for d, i, _ in top])
                pairs = zip(ranks.tolist(), distances.tolist(), strict=True)
                early_ranks = dict(zip(wanted, pairs, strict=True))

    def vector_top(depth: int) -> list[tuple[float, str]]:
        depth = min(depth, items)  # "the whole ranking" sizes nothing beyond the collection
        if keys is not None:
            return [(d, i) for d, i, _ in ordered_hits(keys.block, keys.top(depth), depth)]
        if early_top is not None and early_top[0] == depth:
            return early_top[1]
        hits = vector_hits(
            conn, cache, pin, matrix, depth, tree, precision=precision, db_path=db_path
        )[0]
        return [(d, i) for d, i, _ in hits]

    def ranks_of(ids: list[str]) -> dict[str, tuple[int, float]] | None:
        if keys is None:
            if all(i in early_ranks for i in ids):
                return {i: early_ranks[i] for i in ids}
            # The int8 copy: one streamed pass that counts, not a whole ranking.
            found = streamed_ranks(conn, pin, query, tree, [rowid_of[i] for i in ids])
            if found is None:
                return None
            ranks, distances, _ = found
        else:
            positions = np.array([position_of[i] for i in ids], dtype=np.int64)
            ranks, distances = keys.ranks(positions)
        return {i: (r, d) for i, r, d in zip(ids, ranks.tolist(), distances.tolist(), strict=True)}

    hits = fuse(ranking, vector_top, k, weight, ranks_of)
    payload = _payload(conn, pin, [h.id for h in hits])
    return [Match(h.id, h.distance, h.score, *payload[h.id]) for h in hits]


def _nothing() -> tuple[I64, F64]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)


def _ranking(
    conn: apsw.Connection, pin: Pin, rowids: I64, scores: F64, rowid_of: dict[str, int]
) -> TextRanking:
    if not len(rowids):
        return TextRanking([], [])
    found: dict[int, str] = {
        int(cast(int, r)): str(i)
        for r, i in conn.execute(
            f"SELECT rowid, id FROM {items_table(pin.id)} "
            "WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(rowids.tolist()),),
        )
    }
    rowid_of.update((i, r) for r, i in found.items())
    return rank_text([str(found[r]) for r in rowids.tolist()], scores)


def _ranking_in_block(
    block: VectorBlock, rowids: I64, scores: F64, position_of: dict[str, int]
) -> TextRanking:
    """The text ranking named from the block (rows in rowid order, as of the snapshot);
    ``position_of`` receives each ranked item's position in it."""
    positions = np.searchsorted(block.rowids, rowids).tolist()
    ids = [block.ids[p] for p in positions]
    position_of.update(zip(ids, positions, strict=True))
    return rank_text(ids, scores)


def _payload(
    conn: apsw.Connection, pin: Pin, ids: list[str]
) -> dict[str, tuple[dict[str, Any], str]]:
    if not ids:
        return {}
    return {
        str(i): (json.loads(m), str(t))
        for i, m, t in conn.execute(
            f"SELECT id, json(metadata), text FROM {items_table(pin.id)} "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids, ensure_ascii=False),),
        )
    }
