"""Text postings of the embedded backend (contract §14): kept exact, read for BM25.

The postings are **immutable segments**, one per write batch (Lucene's design, kept inside
SQLite's transactions). Per collection (schema version 6, ``schema.text_ddl``):

* ``nigh_textseg_<id>(seg, docs, salt, terms)``: one row per segment, its dictionary (its
  sorted vocabulary with each term's first posting) in a blob; ``nigh_textpost_<id>(key,
  data)``: its postings, grouped by term, records of a few bytes (item rowid, tf, the item's
  length) in page-sized chunks keyed ``(seg << 32) | index`` (``textsegments``). Both built
  by numpy from ``text.analyze_batch_arrays``: no Python step per posting, and a write adds
  two rows per ~4 KB of postings, nothing per term (version 4 wrote a dictionary row per
  (term, segment) too, ~16,000 per 10,000 items, and a merge rewrote them);
* ``nigh_textdead_<id>(item, before)``: tombstones. A removed or replaced item's postings are
  never rewritten: ``item``'s postings in segments with ``seg < before`` are dead, ``before``
  being the next segment id at removal time. A replacement's new postings go to a segment
  ``>= before`` and segment ids are never reused (AUTOINCREMENT), so SQLite reusing a rowid
  is safe. The length of a removed text comes from analyzing it again (the same analyzer
  gives the same terms), for ``nigh_collections.text_length``.

Every write, merges included, is part of the write's own transaction: a crash or a failed
batch leaves segments and tombstones as they were. Merges (``textmerges``) keep the segment
count logarithmic and drop dead postings.

A query finds its terms in each segment's dictionary (decoded once per process and kept:
``textdictionaries``), reads each range of records (the chunks holding it, one range of the
chunks' B-tree), drops dead postings, and so counts the document frequency exactly (the
live postings); the filter runs on the items table over the candidate rowids.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import cast

import apsw
import numpy as np

from ...filters import FilterNode
from ...text import F64, I64, BatchArrays, analyze_batch_arrays, bm25_scores
from . import textmerges, textsegments
from .filter import compile_filter
from .schema import chunks_table, count_rows, items_table, text_tables, tombstones_table
from .textdictionaries import segment_dictionaries
from .textsegments import POSTING, Dictionary, Postings, chunk_range

__all__ = [
    "add_analyzed",
    "add_postings",
    "clear_postings",
    "index_written",
    "reindex_rows",
    "remove_postings",
    "stored_texts",
    "text_postings",
]

_PAGE = 10_000


def remove_postings(
    conn: apsw.Connection, collection_id: int, analyzer: str, where: str, params: Sequence[object]
) -> None:
    """Mark dead the postings of the items matching ``where`` (before they change)."""
    table = items_table(collection_id)
    rows = conn.execute(f"SELECT rowid, text FROM {table} WHERE {where}", params).fetchall()
    _remove(conn, collection_id, analyzer, ((int(cast(int, r)), str(t)) for r, t in rows))


def _remove(
    conn: apsw.Connection, collection_id: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    indexed = [(rowid, text) for rowid, text in rows if text]
    if not indexed:
        return
    batch = analyze_batch_arrays([text for _, text in indexed], analyzer)
    before = textmerges.next_segment(conn, collection_id)
    # Only a text with a term has postings to cover ("!!!" has none).
    covered = [rowid for (rowid, _), n in zip(indexed, batch.lengths.tolist(), strict=True) if n]
    conn.executemany(
        f"INSERT INTO {tombstones_table(collection_id)} (item, before) VALUES (?, ?) "
        "ON CONFLICT (item) DO UPDATE SET before = excluded.before",
        zip(covered, itertools.repeat(before)),
    )
    _add_length(conn, collection_id, -int(batch.lengths.sum()))
    textmerges.compact_if_needed(conn, collection_id)


def clear_postings(conn: apsw.Connection, collection_id: int) -> None:
    for table in text_tables(collection_id):
        conn.execute(f"DELETE FROM {table}")
    conn.execute("UPDATE nigh_collections SET text_length = 0 WHERE id = ?", (collection_id,))


def add_postings(
    conn: apsw.Connection, collection_id: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    """Index the texts of these (rowid, text) items as one new segment (any old postings of
    theirs are dead already)."""
    pairs = list(rows)
    if pairs:
        rowids, texts = zip(*pairs, strict=True)
        add_analyzed(
            conn, collection_id, np.array(rowids, np.int64), analyze_batch_arrays(texts, analyzer)
        )


def add_analyzed(
    conn: apsw.Connection, collection_id: int, rowids: I64, batch: BatchArrays
) -> None:
    """``add_postings`` of texts already analysed: ``batch`` is ``analyze_batch_arrays`` of
    the texts of the items ``rowids``, in that order."""
    if not len(batch.texts):
        return
    # The analysis groups the postings by term (sorted by term, then text): the order a
    # segment needs.
    records = np.empty(len(batch.texts), dtype=POSTING)
    records["item"] = rowids[batch.texts]
    records["tf"] = batch.tf
    records["length"] = batch.lengths[batch.texts]
    docs = int(np.count_nonzero(batch.lengths))
    starts = textsegments.term_starts(batch.term_ranks, len(batch.vocabulary))
    segment = textsegments.encode(batch.vocabulary, starts, records, docs)
    textmerges.write_segment(conn, collection_id, segment)
    _add_length(conn, collection_id, int(batch.lengths.sum()))
    textmerges.merge_if_needed(conn, collection_id)


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
    """After ``ids`` were written: mark the ``old`` (rowid, text) postings dead, add the new."""
    _remove(conn, collection_id, analyzer, old)
    table = items_table(collection_id)
    for start in range(0, len(ids), _PAGE):
        chunk = ids[start : start + _PAGE]
        rows = conn.execute(
            f"SELECT rowid, text FROM {table} WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(chunk, ensure_ascii=False),),
        ).fetchall()
        add_postings(conn, collection_id, analyzer, cast(list[tuple[int, str]], rows))


def index_written(
    conn: apsw.Connection,
    collection_id: int,
    analyzer: str,
    rowids: I64,
    batch: BatchArrays,
    old: list[tuple[int, str]],
) -> None:
    """After an upsert wrote the items ``rowids``, whose texts ``batch`` analysed: mark the
    ``old`` (rowid, text) postings dead, add the new (``reindex_rows`` for writers that do
    not know the rowids)."""
    _remove(conn, collection_id, analyzer, old)
    add_analyzed(conn, collection_id, rowids, batch)


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


def _term_postings(
    conn: apsw.Connection, collection_id: int, segments: list[tuple[int, Dictionary]], term: str
) -> tuple[I64, Postings]:
    """Every posting of ``term``, live or dead, and the segment each comes from."""
    select = f"SELECT data FROM {chunks_table(collection_id)} WHERE key BETWEEN ? AND ?"
    segs: list[I64] = []
    parts: list[Postings] = []
    for seg, dictionary in segments:
        found = dictionary.find(term)
        if found is None:
            continue
        first, last, lo, hi = chunk_range(seg, dictionary.records, *found)
        data = b"".join(cast(bytes, r[0]) for r in conn.execute(select, (first, last)))
        parts.append(dictionary.records.unpack(data[lo:hi]))
        segs.append(np.full(found[1], seg, dtype=np.int64))
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=POSTING)
    return np.concatenate(segs), np.concatenate(parts)


def text_postings(
    conn: apsw.Connection, collection_id: int, terms: list[str], tree: FilterNode | None
) -> tuple[I64, F64]:
    """BM25 of the items that pass ``tree`` and hold a query term: (rowids, scores)."""
    table = items_table(collection_id)
    n_items = count_rows(conn, table)
    row = conn.execute(
        "SELECT text_length FROM nigh_collections WHERE id = ?", (collection_id,)
    ).fetchone()
    total_length = int(cast(int, row[0])) if row else 0
    dead = textmerges.Tombstones.read(conn, collection_id)
    segments = segment_dictionaries(conn, collection_id)
    live: list[Postings] = []
    for term in terms:
        segs, records = _term_postings(conn, collection_id, segments, term)
        live.append(records[dead.live(records["item"], segs)])
    passing: I64 | None = None
    if tree is not None:
        candidates = np.unique(np.concatenate([r["item"] for r in live] or [np.empty(0)]))
        passing = _passing(conn, table, tree, candidates)
    parts = []
    for records in live:
        df = len(records)  # the live postings: one per live item holding the term
        if passing is not None:
            records = records[np.isin(records["item"], passing)]
        parts.append(
            (
                df,
                records["item"].astype(np.int64),
                records["tf"].astype(np.int64),
                records["length"].astype(np.int64),
            )
        )
    return bm25_scores(n_items, total_length, parts)


def _passing(conn: apsw.Connection, table: str, tree: FilterNode, candidates: I64) -> I64:
    """Those of ``candidates`` (rowids) whose item passes ``tree``."""
    if not len(candidates):
        return candidates
    where, params = compile_filter(tree)
    out: list[int] = []
    for start in range(0, len(candidates), _PAGE):
        chunk = candidates[start : start + _PAGE]
        out.extend(
            int(cast(int, r[0]))
            for r in conn.execute(
                f"SELECT rowid FROM {table} WHERE rowid IN (SELECT value FROM json_each(?)) "
                f"AND ({where})",
                (json.dumps(chunk.tolist()), *params),
            )
        )
    return np.array(out, dtype=np.int64)
