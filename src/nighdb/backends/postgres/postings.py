"""Text postings of the pgvector backend (contract §14): kept exact, read for BM25.

The postings are segments (``textsegments``: in each segment a row per frequent term and
a shared row per bucket of rare terms, tombstones for the replaced and deleted items),
merged and compacted by ``textmerges``.
``nigh_collections.text_items``/``text_length`` hold the collection's item count and total
length, the N and average length of BM25.

Every write of items takes the collection's registry row ``FOR UPDATE`` first
(``lock_collection``): the writes of one collection run one at a time, so the texts read
before a write are the ones it replaces, the counts stay exact and segment ids are handed
out in order. The items a write replaces or deletes get a tombstone ``before`` the id of the
write's segment; their length is found by analyzing the stored text again (the same analyzer
gives the same terms). Searches read the rows of the query terms and of their buckets as
they are stored, arrays and all, with the tombstones of their items, in one statement
(``postings_statement``: without a filter, a call of the collection's reader, ``readers``),
and score every match by ``nighdb.text.bm25_scores`` (``scored_postings``), as on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress
from typing import Any

import numpy as np
from psycopg import sql

from ...text import F64, I64, analyze_batch_arrays, bm25_scores
from .filter import prepare_option
from .rows import Where
from .schema import Conn, Layout, id_hash
from .textmerges import compact_if_needed, merge_if_needed
from .textsegments import (
    NewPostings,
    analyze_new,
    bucket_key,
    item_key,
    term_key,
    write_segment,
)

__all__ = [
    "NewPostings",
    "add_postings",
    "after_removal",
    "analyze_new",
    "clear_postings",
    "lock_collection",
    "postings_statement",
    "remove_postings",
    "row_keys",
    "scored_postings",
    "term_rows",
    "stored_texts",
    "term_key",
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
    # Only a text with a term has postings to cover ("!!!" has none).
    ids = [item_id for (item_id, _), n in zip(indexed, batch.lengths.tolist(), strict=True) if n]
    if ids:
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


# The rows of the query terms and of their buckets (kind 0), the tombstones of their items
# (kind 1: ``seg`` the tombstone's ``before``, ``items`` the item), with a filter the items
# that pass it (kind 2, one row), each row with the collection's statistics. The arrays go
# to the client as they are stored: unnesting them and summing BM25 in the server cost more
# (planning included) than reading and scoring them here (docs/benchmarks.md, session 11).
_TERM_ROWS = sql.SQL(
    "WITH st AS (SELECT text_items, text_length FROM {collections} WHERE id = {collection}),"
    " p AS MATERIALIZED (SELECT term_hash, seg, items, tfs, lengths, terms FROM {postings}"
    " WHERE term_hash = ANY({keys}::bytea[])),"
    " r AS (SELECT 0 AS kind, term_hash, seg, items, tfs, lengths, terms FROM p"
    " UNION ALL SELECT 1, NULL, d.before, ARRAY[d.item], NULL, NULL, NULL FROM {tombstones} AS d"
    " WHERE d.item IN (SELECT unnest(p.items) FROM p){filtered})"
    " SELECT r.kind, r.term_hash, r.seg, r.items, r.tfs, r.lengths, r.terms, st.text_items,"
    " st.text_length FROM r CROSS JOIN st"
)
_FILTERED = sql.SQL(
    " UNION ALL SELECT 2, NULL, NULL, ARRAY(SELECT u.item FROM (SELECT DISTINCT unnest(p.items)"
    " AS item FROM p) AS u WHERE EXISTS (SELECT 1 FROM {items} AS t WHERE t.id_hash = {hash}"
    " AND ({condition}))), NULL, NULL, NULL"
)


def term_rows(
    layout: Layout, collection_id: int, keys: sql.Composable, filtered: sql.Composable
) -> sql.Composed:
    """``_TERM_ROWS`` of a collection: the terms' keys in ``keys``, with ``filtered``."""
    return _TERM_ROWS.format(
        collections=layout.collections,
        collection=sql.Literal(int(collection_id)),
        postings=layout.postings(collection_id),
        keys=keys,
        tombstones=layout.tombstones(collection_id),
        filtered=filtered,
    )


def row_keys(hashes: list[bytes]) -> list[bytes]:
    """The keys of the rows that may hold the postings of the terms ``hashes``: each
    term's own rows and its bucket's (``textsegments``)."""
    return [*hashes, *dict.fromkeys(bucket_key(h) for h in hashes)]


def postings_statement(
    layout: Layout, collection_id: int, hashes: list[bytes], where: Where | None
) -> tuple[sql.Composed, list[object], bool | None]:
    """The statement that reads the terms' postings (keys ``hashes``) and what scoring them
    takes (see ``_TERM_ROWS``), its parameters and psycopg's ``prepare=``;
    ``scored_postings`` scores its rows. Without a filter, a call of the collection's
    reader (``readers``)."""
    keys = row_keys(hashes)
    if where is None:
        query = sql.SQL("SELECT * FROM {}(%s)").format(layout.text_reader(collection_id))
        return query, [keys], prepare_option([])
    filtered = _FILTERED.format(
        items=layout.items(collection_id), hash=id_hash(sql.SQL("u.item")), condition=where[0]
    )
    query = term_rows(layout, collection_id, sql.Placeholder(), filtered)
    return query, [keys, *where[1]], prepare_option(where[1])


def text_postings(
    conn: Conn, layout: Layout, collection_id: int, terms: list[str], where: Where | None
) -> tuple[list[str], F64]:
    """BM25 of the items that pass ``where`` and hold a query term: (ids, scores)."""
    hashes = [term_key(t) for t in terms]
    query, params, prepare = postings_statement(layout, collection_id, hashes, where)
    rows = conn.execute(query, params, prepare=prepare, binary=True)
    return scored_postings(rows.fetchall(), hashes)


_Run = tuple[int, list[str], list[int], list[int]]  # a segment's postings of a term


def scored_postings(rows: Sequence[Sequence[Any]], hashes: list[bytes]) -> tuple[list[str], F64]:
    """The ids and BM25 scores (``bm25_scores``, the one definition) of the items that pass
    the filter in the rows of ``postings_statement`` (of the terms ``hashes``).

    A posting is live when no tombstone covers it (none of its item with a ``before`` above
    the posting's segment); a term's document frequency is the count of its live postings,
    filter or not (contract §14: the statistics are the collection's)."""
    if not rows:
        return [], np.empty(0, dtype=np.float64)
    n_items, total_length = int(rows[0][7]), int(rows[0][8])
    dead = {str(r[3][0]): int(r[2]) for r in rows if r[0] == 1}
    passing = next((set(r[3]) for r in rows if r[0] == 2), None)
    segments: dict[bytes, list[_Run]] = {h: [] for h in hashes}
    for row in rows:
        if row[0] == 0:
            key = bytes(row[1])
            if key in segments:
                segments[key].append((int(row[2]), row[3], row[4], row[5]))
            else:
                _split_shared(row, segments)
    keys: dict[str, int] = {}
    parts: list[tuple[int, I64, I64, I64]] = []
    for h in hashes:
        items: list[str] = []
        tfs: list[int] = []
        lengths: list[int] = []
        for seg, seg_items, seg_tfs, seg_lengths in segments[h]:
            if dead:
                live = [dead.get(i, 0) <= seg for i in seg_items]
                seg_items, seg_tfs, seg_lengths = _kept(live, seg_items, seg_tfs, seg_lengths)
            items += seg_items
            tfs += seg_tfs
            lengths += seg_lengths
        df = len(items)
        if passing is not None:
            items, tfs, lengths = _kept([i in passing for i in items], items, tfs, lengths)
        parts.append(
            (
                df,
                np.array([keys.setdefault(i, len(keys)) for i in items], dtype=np.int64),
                np.array(tfs, dtype=np.int64),
                np.array(lengths, dtype=np.int64),
            )
        )
    # The keys are the items' places in ``keys``: 0 .. len(keys) - 1, each used.
    key_array, scores = bm25_scores(n_items, total_length, parts, dense=len(keys))
    ids = list(keys)
    return [ids[k] for k in key_array.tolist()], scores


def _split_shared(row: Sequence[Any], segments: dict[bytes, list[_Run]]) -> None:
    """Add the postings of the query terms in a bucket's shared row (its ``terms``, a term
    key per posting) to their terms' runs."""
    seg, items, tfs, lengths = int(row[2]), row[3], row[4], row[5]
    term_keys = np.frombuffer(row[6], dtype="S16")  # a term key is 16 bytes
    for key, runs in segments.items():
        mask = (term_keys == key).tolist()
        if any(mask):
            runs.append((seg, *_kept(mask, items, tfs, lengths)))


def _kept(
    mask: list[bool], items: list[str], tfs: list[int], lengths: list[int]
) -> tuple[list[str], list[int], list[int]]:
    """The postings where ``mask`` is true."""
    return list(compress(items, mask)), list(compress(tfs, mask)), list(compress(lengths, mask))
