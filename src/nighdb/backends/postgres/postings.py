"""Text postings of the pgvector backend (contract §14): kept exact, read for BM25.

The postings are segments (``textsegments``: one row per (term, segment), tombstones for
the replaced and deleted items), merged and compacted by ``textmerges``.
``nigh_collections.text_items``/``text_length`` hold the collection's item count and total
length, the N and average length of BM25.

Every write of items takes the collection's registry row ``FOR UPDATE`` first
(``lock_collection``): the writes of one collection run one at a time, so the texts read
before a write are the ones it replaces, the counts stay exact and segment ids are handed
out in order. The items a write replaces or deletes get a tombstone ``before`` the id of the
write's segment; their length is found by analyzing the stored text again (the same analyzer
gives the same terms). Scores are computed by ``nighdb.text.bm25_scores``, as on SQLite: of
every match here (hybrid search needs the whole text ranking), of the best rows the server
picked for text-only search (``textrank``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from psycopg import sql

from ...text import F64, I64, analyze_batch_arrays, bm25_scores
from .schema import Conn, Layout, id_hash
from .textmerges import compact_if_needed, merge_if_needed
from .textsegments import LIVE_POSTINGS, NewPostings, analyze_new, item_key, term_key, write_segment

__all__ = [
    "NewPostings",
    "add_postings",
    "after_removal",
    "analyze_new",
    "clear_postings",
    "live_postings",
    "lock_collection",
    "remove_postings",
    "stored_texts",
    "term_key",
    "term_statistics",
    "text_postings",
]


def lock_collection(conn: Conn, layout: Layout, collection_id: int) -> int:
    """Serialize this transaction with every other write of the collection (see above);
    the id of the next segment."""
    row = conn.execute(
        sql.SQL("SELECT text_segment FROM {} WHERE id = %s FOR UPDATE").format(layout.collections),
        (collection_id,),
    ).fetchone()
    return 1 if row is None else int(row[0]) + 1


def live_postings(layout: Layout, collection_id: int, terms: sql.Composable) -> sql.Composed:
    """``LIVE_POSTINGS`` of the collection, of the terms ``terms`` (a ``bytea[]``)."""
    return LIVE_POSTINGS.format(
        postings=layout.postings(collection_id),
        tombstones=layout.tombstones(collection_id),
        terms=terms,
    )


def stored_texts(
    conn: Conn, layout: Layout, collection_id: int, condition: tuple[sql.Composable, list[object]]
) -> list[tuple[str, str]]:
    """(id, text) of the stored items that match ``condition``."""
    rows = conn.execute(
        sql.SQL("SELECT id, text FROM {} WHERE {}").format(
            layout.items(collection_id), condition[0]
        ),
        condition[1],
    ).fetchall()
    return [(str(i), str(t)) for i, t in rows]


def remove_postings(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    analyzer: str,
    old: Iterable[tuple[str, str]],
    removed_items: int,
    before: int,
) -> None:
    """Tombstone the postings of ``old`` (id, text) items in the segments below ``before``
    (the next segment's id: ``lock_collection``) and take ``removed_items`` and their length
    from the statistics."""
    indexed = [(item_id, text) for item_id, text in old if text]
    batch = analyze_batch_arrays([text for _, text in indexed], analyzer)
    if indexed:
        ids = [item_id for item_id, _ in indexed]
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (item_hash, item, before)"
                " SELECT h, i, %s FROM unnest(%s::bytea[], %s::text[]) AS d(h, i)"
                " ON CONFLICT (item_hash) DO UPDATE SET before = excluded.before"
            ).format(layout.tombstones(collection_id)),
            (before, [item_key(i) for i in ids], ids),
        )
    _add_stats(conn, layout, collection_id, -removed_items, -int(batch.lengths.sum()), 0)


def add_postings(
    conn: Conn, layout: Layout, collection_id: int, new: NewPostings, added_items: int
) -> None:
    """Write segment ``new`` (its items' old postings tombstoned), then merge and compact
    as the policy asks (``textmerges``)."""
    write_segment(conn, layout, collection_id, new)
    _add_stats(conn, layout, collection_id, added_items, new.total_length, new.seg)
    if len(new):
        merge_if_needed(conn, layout, collection_id)
    compact_if_needed(conn, layout, collection_id)


def after_removal(conn: Conn, layout: Layout, collection_id: int) -> None:
    """Compact if the tombstones of a delete exceed their share."""
    compact_if_needed(conn, layout, collection_id)


def _add_stats(
    conn: Conn, layout: Layout, collection_id: int, items: int, length: int, seg: int
) -> None:
    if items or length or seg:
        conn.execute(
            sql.SQL(
                "UPDATE {} SET text_items = text_items + %s, text_length = text_length + %s, "
                "text_segment = greatest(text_segment, %s) WHERE id = %s"
            ).format(layout.collections),
            (items, length, seg, collection_id),
        )


def clear_postings(conn: Conn, layout: Layout, collection_id: int) -> None:
    conn.execute(
        sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(layout.text_tables(collection_id)))
    )
    conn.execute(
        sql.SQL("UPDATE {} SET text_items = 0, text_length = 0 WHERE id = %s").format(
            layout.collections
        ),
        (collection_id,),
    )


def term_statistics(
    conn: Conn, layout: Layout, collection_id: int, hashes: list[bytes]
) -> tuple[int, int, dict[bytes, int]]:
    """BM25's collection statistics: the item count, the total length, and the document
    frequency of each query term (by its key) that has postings."""
    stats = conn.execute(
        sql.SQL("SELECT text_items, text_length FROM {} WHERE id = %s").format(layout.collections),
        (collection_id,),
    ).fetchone()
    n_items, total_length = (0, 0) if stats is None else (int(stats[0]), int(stats[1]))
    live = live_postings(layout, collection_id, sql.SQL("%s::bytea[]"))
    dfs: dict[bytes, int] = {
        bytes(term): int(count)
        for term, count in conn.execute(
            sql.SQL("SELECT l.term_hash, count(*) FROM ({}) AS l GROUP BY l.term_hash").format(
                live
            ),
            (hashes,),
        )
    }
    return n_items, total_length, dfs


def text_postings(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    terms: list[str],
    where: tuple[sql.Composable, list[object]] | None,
) -> tuple[list[str], F64]:
    """BM25 of the items that pass ``where`` and hold a query term: (ids, scores)."""
    hashes = [term_key(t) for t in terms]
    n_items, total_length, dfs = term_statistics(conn, layout, collection_id, hashes)
    live = live_postings(layout, collection_id, sql.SQL("%s::bytea[]"))
    if where is None:
        query = sql.SQL("SELECT l.term_hash, l.item, l.tf, l.length FROM ({}) AS l").format(live)
        params: list[object] = [hashes]
    else:
        query = sql.SQL(
            "SELECT l.term_hash, l.item, l.tf, l.length FROM ({}) AS l "
            "WHERE EXISTS (SELECT 1 FROM {} AS t WHERE t.id_hash = {} AND ({}))"
        ).format(live, layout.items(collection_id), id_hash(sql.SQL("l.item")), where[0])
        params = [hashes, *where[1]]
    rows = conn.execute(query, params).fetchall() if dfs else []
    keys: dict[str, int] = {}
    per_term: dict[bytes, list[tuple[int, int, int]]] = {h: [] for h in hashes}
    for term, item, tf, length in rows:
        key = keys.setdefault(str(item), len(keys))
        per_term[bytes(term)].append((key, int(tf), int(length)))
    parts: list[tuple[int, I64, I64, I64]] = []
    for h in hashes:
        arr = np.array(per_term[h], dtype=np.int64).reshape(-1, 3)
        parts.append((int(dfs.get(h, 0)), arr[:, 0], arr[:, 1], arr[:, 2]))
    key_array, scores = bm25_scores(n_items, total_length, parts)
    ids = list(keys)
    return [ids[k] for k in key_array.tolist()], scores
