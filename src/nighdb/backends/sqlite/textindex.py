"""Text postings of the embedded backend (contract §14): kept exact, read for BM25.

Per collection, ``nigh_postings_<id>(term, item, tf, length)`` holds one row per distinct
term of each item's analyzed text (``item`` is the items table's rowid, ``length`` the
item's length in terms, repeated in each of its rows so a search reads postings without a
join), clustered by term so a query term's postings are one range. The collection's total
length lives in ``nigh_collections.text_length``; the item count is the items table's.

Every write keeps them exact inside the write's own transaction: the postings of a
replaced, updated or deleted item are found by analyzing its stored text again (the same
analyzer gives the same terms), so no second index by item is needed on the write path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import cast

import apsw
import numpy as np

from ...filters import FilterNode
from ...text import F64, I64, BatchPostings, analyze_batch, bm25_scores
from .filter import compile_filter
from .schema import count_rows, items_table, postings_table

__all__ = ["add_postings", "clear_postings", "remove_postings", "text_postings"]

_PAGE = 10_000


def remove_postings(
    conn: apsw.Connection, collection_id: int, analyzer: str, where: str, params: Sequence[object]
) -> None:
    """Drop the postings and lengths of the items matching ``where`` (before they change)."""
    table = items_table(collection_id)
    rows = conn.execute(f"SELECT rowid, text FROM {table} WHERE {where}", params).fetchall()
    _remove(conn, collection_id, analyzer, ((int(cast(int, r)), str(t)) for r, t in rows))


def _remove(
    conn: apsw.Connection, collection_id: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    batch, items = _analyze(rows, analyzer)
    if len(batch):
        conn.executemany(
            f"DELETE FROM {postings_table(collection_id)} WHERE term = ? AND item = ?",
            zip(batch.terms, items, strict=True),
        )
        _add_length(conn, collection_id, -batch.total_length)


def clear_postings(conn: apsw.Connection, collection_id: int) -> None:
    conn.execute(f"DELETE FROM {postings_table(collection_id)}")
    conn.execute("UPDATE nigh_collections SET text_length = 0 WHERE id = ?", (collection_id,))


def add_postings(
    conn: apsw.Connection, collection_id: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    """Index the texts of these (rowid, text) items, whose old postings are gone."""
    batch, items = _analyze(rows, analyzer)
    if len(batch):
        # Sorted by term (the key's first column): the B-tree fills in order instead of at
        # random, about twice as fast to insert.
        conn.executemany(
            f"INSERT INTO {postings_table(collection_id)} (term, item, tf, length) "
            "VALUES (?, ?, ?, ?)",
            zip(batch.terms, items, batch.tf, batch.lengths, strict=True),
        )
        _add_length(conn, collection_id, batch.total_length)


def _analyze(rows: Iterable[tuple[int, str]], analyzer: str) -> tuple[BatchPostings, list[int]]:
    """The postings of these (rowid, text) items' non-empty texts, and each posting's rowid."""
    indexed = [(rowid, text) for rowid, text in rows if text]
    batch = analyze_batch([text for _, text in indexed], analyzer)
    rowids = [rowid for rowid, _ in indexed]
    return batch, [rowids[i] for i in batch.texts]


def _add_length(conn: apsw.Connection, collection_id: int, delta: int) -> None:
    if delta:
        conn.execute(
            "UPDATE nigh_collections SET text_length = text_length + ? WHERE id = ?",
            (delta, collection_id),
        )


def reindex_rows(
    conn: apsw.Connection,
    collection_id: int,
    analyzer: str,
    ids: list[str],
    old: list[tuple[int, str]],
) -> None:
    """After ``ids`` were written: drop the ``old`` (rowid, text) postings, add the new."""
    _remove(conn, collection_id, analyzer, old)
    table = items_table(collection_id)
    for start in range(0, len(ids), _PAGE):
        chunk = ids[start : start + _PAGE]
        rows = conn.execute(
            f"SELECT rowid, text FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(chunk, ensure_ascii=False),),
        ).fetchall()
        add_postings(conn, collection_id, analyzer, ((int(cast(int, r)), str(t)) for r, t in rows))


def stored_texts(
    conn: apsw.Connection, collection_id: int, ids: list[str]
) -> list[tuple[int, str]]:
    """(rowid, text) of the items among ``ids`` that exist now."""
    table = items_table(collection_id)
    out: list[tuple[int, str]] = []
    for start in range(0, len(ids), _PAGE):
        chunk = ids[start : start + _PAGE]
        out.extend(
            (int(cast(int, r)), str(t))
            for r, t in conn.execute(
                f"SELECT rowid, text FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(chunk, ensure_ascii=False),),
            )
        )
    return out


def text_postings(
    conn: apsw.Connection, collection_id: int, terms: list[str], tree: FilterNode | None
) -> tuple[I64, F64]:
    """BM25 of the items that pass ``tree`` and hold a query term: (rowids, scores)."""
    table = items_table(collection_id)
    postings = postings_table(collection_id)
    n_items = count_rows(conn, table)
    row = conn.execute(
        "SELECT text_length FROM nigh_collections WHERE id = ?", (collection_id,)
    ).fetchone()
    total_length = int(cast(int, row[0])) if row else 0
    if tree is None:
        select = f"SELECT item, tf, length FROM {postings} WHERE term = ?"
        params: list[object] = []
    else:
        where, params = compile_filter(tree)
        select = (
            f"SELECT p.item, p.tf, p.length FROM {postings} AS p "
            f"JOIN {table} ON {table}.rowid = p.item WHERE p.term = ? AND ({where})"
        )
    parts = []
    for term in terms:
        df_row = conn.execute(f"SELECT count(*) FROM {postings} WHERE term = ?", (term,)).fetchone()
        df = int(cast(int, df_row[0])) if df_row else 0
        rows = conn.execute(select, (term, *params)).fetchall() if df else []
        arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
        parts.append((df, arr[:, 0], arr[:, 1], arr[:, 2]))
    return bm25_scores(n_items, total_length, parts)
