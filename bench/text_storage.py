"""What-if storages for SQLite's text postings (issue #16): measured before building one.

``python -m bench.text_storage [--rows 100000] [--rounds 3] [--variants ...]`` ingests
``bench.text``'s corpus (items with vectors and texts, batches of 10,000) through nighdb's
real ``upsert``, each variant into a fresh file, with only the writer of the postings
swapped, and prints per round the ratio of ingest with text to ingest without. Variants
alternate within a round and run in reverse order every other round (the machine is
shared: compare ratios of one run, not rates across runs).

* ``none``: the items without text (the baseline);
* ``stored``: the items with their texts stored, but no postings written (what storing
  the texts alone costs);
* ``today``: nighdb's postings, immutable segments (schema 4: ``textindex``), merges
  included;
* ``rows``: schema 3's postings, one ``(term, item)`` row per distinct term of each item;
* ``fts5``: SQLite's FTS5 as the posting store: each item's analyzed terms joined by spaces
  into a contentless table (``contentless_delete=1``, ``tokenize='ascii'``, which gives our
  terms back whole), the item's length in a table of its own;
* ``packed``: one row per (batch, term), its items' (rowid, tf, length) packed in a blob;
* ``seg``: today's segment row alone, its dictionary only in its blob (no dictionary rows,
  no merges): what a cache of decoded dictionaries would have saved at write time.

The what-if writers handle only what this benchmark does (fresh inserts); they replace
``textindex.add_postings`` for the run. ``--queries N`` also times text-only search over the
``today``, ``rows`` and ``fts5`` storages of the last round (those run) against a raw FTS5
``bm25()`` query (p50 over N two-word queries; their BM25 is checked equal first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

import apsw
import numpy as np

import nighdb
from nighdb import Collection
from nighdb.backends.sqlite import textindex, textsegments
from nighdb.text import (
    analyze_batch,
    analyze_batch_arrays,
    analyze_query,
    analyze_tokens,
    bm25_scores,
)

from .text import C, T, _corpus, _items

Writer = Callable[[apsw.Connection, int, str, Iterable[tuple[int, str]]], None]
_TODAY: Writer = textindex.add_postings


def _rows_add(
    conn: apsw.Connection, cid: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    """Schema 3's postings: one row per (term, item), inserted in term order."""
    indexed = [(r, t) for r, t in rows if t]  # the bench's only collection: id 1
    batch = analyze_batch([t for _, t in indexed], analyzer)
    rowids = [r for r, _ in indexed]
    conn.executemany(
        "INSERT INTO rows_1 (term, item, tf, length) VALUES (?, ?, ?, ?)",
        zip(batch.terms, [rowids[i] for i in batch.texts], batch.tf, batch.lengths, strict=True),
    )


def _fts5_add(
    conn: apsw.Connection, cid: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    indexed = [(r, t) for r, t in rows if t]  # the bench's only collection: id 1
    bodies = [" ".join(analyze_tokens(t, analyzer)) for _, t in indexed]
    rowids = [r for r, _ in indexed]
    conn.executemany(
        "INSERT INTO fts_1 (rowid, body) VALUES (?, ?)", zip(rowids, bodies, strict=True)
    )
    lengths = [len(b.split()) for b in bodies]
    conn.executemany(
        "INSERT INTO len_1 (item, length) VALUES (?, ?)", zip(rowids, lengths, strict=True)
    )


def _packed_add(
    conn: apsw.Connection, cid: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    indexed = [(r, t) for r, t in rows if t]  # the bench's only collection: id 1
    batch = analyze_batch([t for _, t in indexed], analyzer)
    rowids = np.array([r for r, _ in indexed], dtype=np.int64)
    items = rowids[np.array(batch.texts, dtype=np.int64)]
    tf = np.array(batch.tf, dtype=np.int32)
    lengths = np.array(batch.lengths, dtype=np.int32)
    terms = np.array(batch.terms, dtype=object)
    starts = np.flatnonzero(np.concatenate(([True], terms[1:] != terms[:-1])))
    ends = np.append(starts[1:], len(terms))
    segment = int(rowids[0])
    packed = [
        (terms[s], segment, items[s:e].tobytes() + tf[s:e].tobytes() + lengths[s:e].tobytes())
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
    conn.executemany("INSERT INTO packed_1 (term, seg, blob) VALUES (?, ?, ?)", packed)


def _segment_of(analyzer: str, rows: Iterable[tuple[int, str]]) -> Any:
    indexed = [(r, t) for r, t in rows if t]
    batch = analyze_batch_arrays([t for _, t in indexed], analyzer)
    rowids = np.array([r for r, _ in indexed], dtype=np.int64)
    records = np.empty(len(batch.texts), dtype=textsegments.POSTING)
    records["item"] = rowids[batch.texts]
    records["tf"] = batch.tf
    records["length"] = batch.lengths[batch.texts]
    docs = int(np.count_nonzero(batch.lengths))
    return textsegments.encode(batch.vocabulary, batch.term_ranks, records, docs), batch


def _seg_add(
    conn: apsw.Connection, cid: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    segment, _ = _segment_of(analyzer, rows)  # the bench's only collection: id 1
    conn.execute(
        "INSERT INTO seg_1 (stamp, docs, terms, postings) VALUES (?, ?, ?, ?)",
        (1, segment.docs, segment.terms, segment.postings),
    )


_SEG_DDL = (
    "CREATE TABLE seg_1 (seg INTEGER PRIMARY KEY AUTOINCREMENT, stamp INTEGER, docs INTEGER, "
    "terms BLOB, postings BLOB)"
)
_DDL = {
    "seg": [_SEG_DDL],
    "rows": [
        "CREATE TABLE rows_1 (term TEXT NOT NULL, item INTEGER NOT NULL, tf INTEGER NOT NULL, "
        "length INTEGER NOT NULL, PRIMARY KEY (term, item)) WITHOUT ROWID",
    ],
    "fts5": [
        "CREATE VIRTUAL TABLE fts_1 USING fts5(body, tokenize='ascii', content='', "
        "contentless_delete=1)",
        "CREATE TABLE len_1 (item INTEGER PRIMARY KEY, length INTEGER NOT NULL)",
    ],
    "packed": [
        "CREATE TABLE packed_1 (term TEXT NOT NULL, seg INTEGER NOT NULL, blob BLOB NOT NULL, "
        "PRIMARY KEY (term, seg)) WITHOUT ROWID",
    ],
}


def _nothing(
    conn: apsw.Connection, cid: int, analyzer: str, rows: Iterable[tuple[int, str]]
) -> None:
    """The texts stored with the items, no postings written."""


_WRITERS: dict[str, Writer] = {
    "none": _TODAY,
    "stored": _nothing,
    "today": _TODAY,
    "fts5": _fts5_add,
    "packed": _packed_add,
    "rows": _rows_add,
    "seg": _seg_add,
}


def _ingest(variant: str, path: str, texts: list[str], vectors: Any) -> float:
    ids = [f"doc{i:07d}" for i in range(len(texts))]
    with nighdb.open_store(path) as store:
        store.ensure_collection(T, Collection(C, vectors.shape[1]))
    conn = apsw.Connection(path)
    for ddl in _DDL.get(variant, []):  # the first collection's id is 1
        conn.execute(ddl)
    conn.close()
    textindex.add_postings = _WRITERS[variant]  # type: ignore[assignment]
    try:
        with nighdb.open_store(path) as store:
            started = time.perf_counter()
            for batch in _items(ids, vectors, None if variant == "none" else texts):
                store.upsert(T, C, batch)
            return time.perf_counter() - started
    finally:
        textindex.add_postings = _TODAY  # type: ignore[assignment]


def _queries(paths: dict[str, str], texts: list[str], queries: list[str], n: int) -> None:
    """Text-only p50 of the postings read, next to raw FTS5 ``bm25()``."""
    total = sum(len(analyze_tokens(t, "plain")) for t in texts)
    conns = {v: apsw.Connection(paths[v]) for v in ("today", "rows", "fts5") if v in paths}
    if "fts5" in conns:
        fts = conns["fts5"]
        fts.execute("CREATE VIRTUAL TABLE temp.vr USING fts5vocab(main, fts_1, 'row')")
        fts.execute("CREATE VIRTUAL TABLE temp.vi USING fts5vocab(main, fts_1, 'instance')")
    raw = apsw.Connection(":memory:")
    raw.execute("CREATE VIRTUAL TABLE raw USING fts5(body)")
    with raw:
        raw.executemany("INSERT INTO raw (rowid, body) VALUES (?, ?)", enumerate(texts, 1))

    def scored(conn: apsw.Connection, df_sql: str, rows_sql: str, query: str) -> Any:
        parts = []
        for term in analyze_query(query, "plain"):
            found = conn.execute(df_sql, (term,)).fetchone()
            df = int(found[0]) if found else 0
            rows = conn.execute(rows_sql, (term,)).fetchall() if df else []
            arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
            parts.append((df, arr[:, 0], arr[:, 1], arr[:, 2]))
        return bm25_scores(len(texts), total, parts)

    readers: dict[str, Callable[[str], Any]] = {
        "today": lambda q: textindex.text_postings(
            conns["today"], 1, analyze_query(q, "plain"), None
        ),
        "rows": lambda q: scored(
            conns["rows"],
            "SELECT count(*) FROM rows_1 WHERE term = ?",
            "SELECT item, tf, length FROM rows_1 WHERE term = ?",
            q,
        ),
        "fts5": lambda q: scored(
            conns["fts5"],
            "SELECT doc FROM vr WHERE term = ?",
            "SELECT i.doc, count(*), l.length FROM vi AS i JOIN len_1 AS l ON l.item = i.doc "
            "WHERE i.term = ? GROUP BY i.doc",
            q,
        ),
    }
    readers = {name: fn for name, fn in readers.items() if name in conns}

    def on_raw(q: str) -> Any:
        a, b = q.split()
        sql = "SELECT rowid, bm25(raw) FROM raw WHERE raw MATCH ? ORDER BY bm25(raw) LIMIT 10"
        return raw.execute(sql, (f"{a} OR {b}",)).fetchall()

    for q in queries[:20]:
        results = [fn(q) for fn in readers.values()]
        for k, s in results[1:]:
            assert np.array_equal(results[0][0], k), q
            assert np.allclose(results[0][1], s, rtol=1e-12, atol=0), q
    p50 = {}
    for name, fn in {"raw FTS5 bm25()": on_raw, **readers}.items():
        times = []
        for q in queries[100 : 100 + n]:
            started = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - started)
        p50[name] = statistics.median(times) * 1000
    base = p50["raw FTS5 bm25()"]
    for name, ms in p50.items():
        print(f"  text-only p50 {name:<16} {ms:7.2f} ms  {ms / base:5.2f}x raw")
    for conn in (*conns.values(), raw):
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="none,today,rows,seg")
    parser.add_argument("--queries", type=int, default=0)
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    texts, vectors, queries = _corpus(args.rows, 384)
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for r in range(args.rounds):
            order = variants if r % 2 == 0 else variants[::-1]
            for variant in order:
                paths[variant] = os.path.join(tmp, f"{variant}-{r}.db")
                seconds[variant].append(_ingest(variant, paths[variant], texts, vectors))
            load = os.getloadavg()[0]
            print(
                f"round {r + 1} (load {load:.1f}): "
                + ", ".join(f"{v} {seconds[v][-1]:.2f} s" for v in variants),
                flush=True,
            )
        print(f"\n{args.rows} items; ingest with text / without, per round:")
        for variant in variants:
            ratios = [n / s for n, s in zip(seconds["none"], seconds[variant], strict=True)]
            print(f"  {variant:<8} " + "  ".join(f"{x:.2f}" for x in ratios))
        if args.queries and "today" in paths:
            _queries(paths, texts, queries, args.queries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
