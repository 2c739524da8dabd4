"""Merging and compacting the text postings segments of the pgvector backend
(``textsegments``), the policy of the SQLite backend's ``textmerges``.

After a segment is added, segments are grouped in size tiers by their item count (tier
``floor(log_F(docs))``, ``F = MERGE_FACTOR``); when a tier holds ``F`` segments they are merged
into one, which lands in a higher tier, so a collection of ``n`` items written in any batch
sizes keeps at most about ``F · log_F(n)`` segments. When the tombstones exceed a share of
the items, every segment is merged into one (a compaction), which leaves no tombstone. A
merge runs in the server (the postings unnested, the dead ones dropped, the rest
aggregated per term) in the writer's transaction, under the collection's lock: a merged
segment takes a new id, no lower than any tombstone's ``before`` (no tombstone applies to
it: the merge dropped the postings they covered) and every later tombstone applies to it. A merge
drops the tombstones no segment needs any more (``before <=`` the oldest segment left).
"""

from __future__ import annotations

from psycopg import sql

from .schema import Conn, Layout
from .textsegments import MERGE_FACTOR, tier

__all__ = ["compact_if_needed", "merge_if_needed"]

# Compaction when the tombstones exceed this many plus a share of the items: a query reads
# (hashes) all of them, so they stay a small fraction of what it reads.
_TOMBSTONES_FLOOR = 1024
_TOMBSTONES_SHARE = 1 / 16
_MERGE_WORK_MEM = "256MB"


def merge_if_needed(conn: Conn, layout: Layout, collection_id: int) -> None:
    """Merge the segments of every tier that holds ``MERGE_FACTOR`` of them."""
    while True:
        row = conn.execute(
            sql.SQL(
                "SELECT array_agg(seg ORDER BY seg) FROM {} GROUP BY tier "
                "HAVING count(*) >= %s ORDER BY tier LIMIT 1"
            ).format(layout.segments(collection_id)),
            (MERGE_FACTOR,),
        ).fetchone()
        if row is None:
            return
        _merge(conn, layout, collection_id, [int(s) for s in row[0]][:MERGE_FACTOR])


def compact_if_needed(conn: Conn, layout: Layout, collection_id: int) -> None:
    """Merge every segment into one when the tombstones exceed their share of the items."""
    row = conn.execute(
        sql.SQL("SELECT (SELECT count(*) FROM {}), text_items FROM {} WHERE id = %s").format(
            layout.tombstones(collection_id), layout.collections
        ),
        (collection_id,),
    ).fetchone()
    if row is None or int(row[0]) <= _TOMBSTONES_FLOOR + int(row[1]) * _TOMBSTONES_SHARE:
        return
    segments = conn.execute(
        sql.SQL("SELECT seg FROM {} ORDER BY seg").format(layout.segments(collection_id))
    ).fetchall()
    if not segments:
        # Tombstones an older version wrote for texts without a term: they cover nothing.
        conn.execute(sql.SQL("DELETE FROM {}").format(layout.tombstones(collection_id)))
        return
    _merge(conn, layout, collection_id, [int(s[0]) for s in segments])


def _merge(conn: Conn, layout: Layout, collection_id: int, segments: list[int]) -> None:
    """Replace ``segments`` by one segment of their live postings, with a new id."""
    postings, registry = layout.postings(collection_id), layout.segments(collection_id)
    tombstones = layout.tombstones(collection_id)
    counter = conn.execute(
        sql.SQL(
            "UPDATE {} SET text_segment = text_segment + 1 WHERE id = %s RETURNING text_segment"
        ).format(layout.collections),
        (collection_id,),
    ).fetchone()
    assert counter is not None  # the caller holds the collection's row locked
    seg = int(counter[0])
    dead = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE before > %s)").format(tombstones),
        (min(segments),),
    ).fetchone()
    if dead is not None and dead[0]:
        # Some postings may be dead: every posting checked, the live ones aggregated per
        # term (each aggregate of a group reads its rows in one order: the arrays stay
        # aligned). The hash aggregate's arrays take more than the default work_mem.
        conn.execute("SELECT set_config('work_mem', %s, true)", (_MERGE_WORK_MEM,))
        # A bucket's row (``textsegments``) keeps each live posting's term key.
        query = sql.SQL(
            "INSERT INTO {postings} (term_hash, seg, items, tfs, lengths, terms)"
            " SELECT p.term_hash, %s, array_agg(u.item), array_agg(u.tf), array_agg(u.length),"
            " string_agg(substring(p.terms FROM 16 * u.n::integer - 15 FOR 16), ''::bytea)"
            " FROM {postings} AS p CROSS JOIN LATERAL"
            " unnest(p.items, p.tfs, p.lengths) WITH ORDINALITY AS u(item, tf, length, n)"
            " WHERE p.seg = ANY(%s) AND NOT EXISTS (SELECT 1 FROM {tombstones} AS d"
            " WHERE d.item = u.item AND d.before > p.seg)"
            " GROUP BY p.term_hash"
        )
    else:
        # No tombstone reaches these segments: each term's arrays concatenated as they are,
        # 2-4x cheaper than unnesting them (measured).
        query = sql.SQL(
            "INSERT INTO {postings} (term_hash, seg, items, tfs, lengths, terms)"
            " SELECT p.term_hash, %s, {cat}(p.items ORDER BY p.seg),"
            " {cat}(p.tfs ORDER BY p.seg), {cat}(p.lengths ORDER BY p.seg),"
            " string_agg(p.terms, ''::bytea ORDER BY p.seg)"
            " FROM {postings} AS p WHERE p.seg = ANY(%s) GROUP BY p.term_hash"
        )
    inserted = conn.execute(
        query.format(postings=postings, tombstones=tombstones, cat=layout.array_cat),
        (seg, segments),
    ).rowcount
    conn.execute(sql.SQL("DELETE FROM {} WHERE seg = ANY(%s)").format(postings), (segments,))
    docs = conn.execute(
        sql.SQL("DELETE FROM {} WHERE seg = ANY(%s) RETURNING docs").format(registry),
        (segments,),
    ).fetchall()
    if inserted:
        # An upper bound of its items (dead ones included): the tier is a size class.
        total = sum(int(d[0]) for d in docs)
        conn.execute(
            sql.SQL("INSERT INTO {} (seg, tier, docs) VALUES (%s, %s, %s)").format(registry),
            (seg, tier(total), total),
        )
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE before <= coalesce((SELECT min(seg) FROM {}), %s)").format(
            tombstones, registry
        ),
        (2**63 - 1,),
    )
