"""Text postings of the pgvector backend (contract §14): kept exact, read for BM25.

Per collection, ``nigh_postings_<id>(term_hash, item_hash, item, tf, length)``: one row
per distinct term of each item's analyzed text (``item`` the item's id, ``length`` the
item's length in terms, repeated so an unfiltered search reads no other table), keyed by
the hashes of the term and of the id (``item_hash`` is the items table's ``id_hash``, which
a filtered search joins on): a term is a run of letters of any length and an id may be
4 KiB, more than a btree entry holds. A query term's postings are one index range.
``nigh_collections.text_items``/``text_length`` hold the
collection's item count and total length, the N and average length of BM25.

Every write of items takes the collection's registry row ``FOR UPDATE`` first
(``lock_collection``): the writes of one collection run one at a time, so the texts read
before a write are the ones it replaces and the counts stay exact. Old postings are found
by analyzing the stored text again (the same analyzer gives the same terms). New postings
go in with one binary ``COPY``, each hash computed once per batch. Scores are computed by
``nighdb.text.bm25_scores``, as on SQLite: of every match here (hybrid search needs the
whole text ranking), of the best rows the server picked for text-only search (``textrank``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from psycopg import sql

from ...text import F64, I64, BatchPostings, analyze_batch, bm25_scores
from .schema import Conn, Layout

__all__ = [
    "add_postings",
    "clear_postings",
    "lock_collection",
    "remove_postings",
    "stored_texts",
    "term_key",
    "term_statistics",
    "text_postings",
]


def postings_table(layout: Layout, collection_id: int) -> sql.Identifier:
    return layout.postings(collection_id)


def term_key(term: str) -> bytes:
    """The key of a term (16 bytes of BLAKE2b: collisions are out of reach)."""
    return hashlib.blake2b(term.encode("utf-8"), digest_size=16).digest()


def item_key(item_id: str) -> bytes:
    """An id's key: the items table's ``id_hash`` (SHA-256 of the UTF-8 bytes)."""
    return hashlib.sha256(item_id.encode("utf-8")).digest()


def lock_collection(conn: Conn, layout: Layout, collection_id: int) -> None:
    """Serialize this transaction with every other write of the collection (see above)."""
    conn.execute(
        sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE").format(layout.collections),
        (collection_id,),
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


def _analyzed(
    analyzer: str, items: Iterable[tuple[str, str]]
) -> tuple[list[str], list[bytes], BatchPostings, dict[str, bytes]]:
    """The items' ids and id keys, their postings, and the key of each distinct term: every
    hash is computed once per batch, not once per posting."""
    indexed = [(item_id, text) for item_id, text in items if text]
    batch = analyze_batch([text for _, text in indexed], analyzer)
    ids = [item_id for item_id, _ in indexed]
    keys = {term: term_key(term) for term in dict.fromkeys(batch.terms)}
    return ids, [item_key(i) for i in ids], batch, keys


def remove_postings(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    analyzer: str,
    old: Iterable[tuple[str, str]],
    removed_items: int,
) -> None:
    """Forget the postings of ``old`` (id, text) items and ``removed_items`` from the count."""
    _, id_keys, batch, term_keys = _analyzed(analyzer, old)
    if len(batch):
        conn.execute(
            sql.SQL(
                "DELETE FROM {} AS p USING unnest(%s::bytea[], %s::bytea[]) AS d(t, i) "
                "WHERE p.term_hash = d.t AND p.item_hash = d.i"
            ).format(postings_table(layout, collection_id)),
            ([term_keys[t] for t in batch.terms], [id_keys[i] for i in batch.texts]),
        )
    _add_stats(conn, layout, collection_id, -removed_items, -batch.total_length)


def add_postings(
    conn: Conn,
    layout: Layout,
    collection_id: int,
    analyzer: str,
    new: Iterable[tuple[str, str]],
    added_items: int,
) -> None:
    """Index ``new`` (id, text) items, whose old postings are gone, with a binary ``COPY``
    (no hex encoding of the keys, no number formatting)."""
    ids, id_keys, batch, term_keys = _analyzed(analyzer, new)
    if len(batch):
        query = sql.SQL(
            "COPY {} (term_hash, item_hash, item, tf, length) FROM STDIN (FORMAT BINARY)"
        ).format(postings_table(layout, collection_id))
        rows = zip(
            map(term_keys.__getitem__, batch.terms),
            [id_keys[i] for i in batch.texts],
            [ids[i] for i in batch.texts],
            batch.tf,
            batch.lengths,
            strict=True,
        )
        with conn.cursor() as cur, cur.copy(query) as copy:
            copy.set_types(["bytea", "bytea", "text", "int4", "int4"])
            for row in rows:
                copy.write_row(row)
    _add_stats(conn, layout, collection_id, added_items, batch.total_length)


def _add_stats(conn: Conn, layout: Layout, collection_id: int, items: int, length: int) -> None:
    if items or length:
        conn.execute(
            sql.SQL(
                "UPDATE {} SET text_items = text_items + %s, text_length = text_length + %s "
                "WHERE id = %s"
            ).format(layout.collections),
            (items, length, collection_id),
        )


def clear_postings(conn: Conn, layout: Layout, collection_id: int) -> None:
    conn.execute(sql.SQL("TRUNCATE {}").format(postings_table(layout, collection_id)))
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
    dfs: dict[bytes, int] = {
        bytes(term): int(count)
        for term, count in conn.execute(
            sql.SQL(
                "SELECT term_hash, count(*) FROM {} WHERE term_hash = ANY(%s::bytea[]) "
                "GROUP BY term_hash"
            ).format(postings_table(layout, collection_id)),
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
    postings = postings_table(layout, collection_id)
    if where is None:
        query = sql.SQL(
            "SELECT term_hash, item, tf, length FROM {} WHERE term_hash = ANY(%s::bytea[])"
        ).format(postings)
        params: list[object] = [hashes]
    else:
        query = sql.SQL(
            "SELECT p.term_hash, p.item, p.tf, p.length FROM {} AS p "
            "JOIN {} AS t ON t.id_hash = p.item_hash "
            "WHERE p.term_hash = ANY(%s::bytea[]) AND ({})"
        ).format(postings, layout.items(collection_id), where[0])
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
