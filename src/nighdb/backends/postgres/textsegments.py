"""Text postings of the pgvector backend as segments (contract §14): in each segment, a
row per frequent term and a shared row per bucket of rare terms, the postings as arrays.

Per collection: ``nigh_tpost_<id>(term_hash, seg, items, tfs, lengths, terms)``, keyed by
``(term_hash, seg)``: postings of segment ``seg``, the items' ids, term frequencies and
lengths in terms (so that a search reads no other table for BM25). A term with
``SHARED_BELOW`` postings or more in a new segment has its own row (``term_hash`` its
16-byte key, ``terms`` NULL); the others share their bucket's row (``term_hash`` the
2-byte ``bucket_key``, ``terms`` the term key of each posting), which a reader of a term
reads too and keeps that term's postings of. A segment is the postings of one write
(``upsert``, or ``update`` of texts), or the merge of others (``textmerges``: a row's
arrays concatenated with the same key's rows). ``nigh_tsegs_<id>(seg, tier, docs)`` lists
the segments; ids come from ``nigh_collections.text_segment``, a counter under the
collection's lock, never reused. ``nigh_ttomb_<id>(item_hash, item, before)`` holds the
tombstones: the postings of ``item`` in the segments with an id below ``before`` are dead
(the item was replaced or deleted). A live posting is one no tombstone covers, the document
frequency of a term the count of its live postings (``postings.scored_postings``): the
semantics of the SQLite backend's segments.

Why arrays, and why shared rows: the server's cost of a segment's ``COPY`` is mostly per
row (a heap tuple and two btree entries). One row per posting (~145,000 per batch of 10,000
items) took ~0.44 s of a backend's CPU and ~36 MB of WAL per batch; one row per (term,
segment) ~16,000 rows; with the terms of fewer than 4 postings in 1,024 buckets, ~4,300.
The price is on the reader's side: a query term's bucket rows hold ~12% of all postings
over 1,024 buckets, ~180 other postings per term at 100,000 items (docs/benchmarks.md).

This module builds a segment's rows on the client, as one binary ``COPY`` stream, with no
Python object per posting (``analyze_new``), and writes it (``write_segment``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import sql

from ...text import I64, BatchArrays, analyze_batch_arrays, segment_tier
from .schema import Conn, Layout
from .write import COPY_SIGNATURE, COPY_TRAILER

__all__ = [
    "BUCKETS",
    "COLUMNS",
    "MERGE_FACTOR",
    "SHARED_BELOW",
    "NewPostings",
    "analyze_new",
    "bucket_key",
    "item_key",
    "term_key",
    "tier",
    "write_segment",
]

MERGE_FACTOR = 8
"""Segments of one size tier merged into one (``textmerges``); a tier is ``floor(log_F(docs))``."""

SHARED_BELOW = 4
"""A term with fewer postings than this in a new segment goes in its bucket's row."""
BUCKETS = 1024
"""Buckets of the terms that share rows: a term's bucket is its key's first two bytes,
as a big-endian number, modulo ``BUCKETS`` (``bucket_key``)."""


def term_key(term: str) -> bytes:
    """The key of a term (16 bytes of BLAKE2b: collisions are out of reach)."""
    return hashlib.blake2b(term.encode("utf-8"), digest_size=16).digest()


def bucket_key(key: bytes) -> bytes:
    """The key of the shared row of term key ``key``'s bucket: 2 bytes, so never a term's
    own key (16 bytes)."""
    return (int.from_bytes(key[:2], "big") % BUCKETS).to_bytes(2, "big")


def item_key(item_id: str) -> bytes:
    """An id's key: the items table's ``id_hash`` (SHA-256 of the UTF-8 bytes)."""
    return hashlib.sha256(item_id.encode("utf-8")).digest()


def tier(docs: int) -> int:
    """The size tier of a segment of ``docs`` items."""
    return segment_tier(docs, MERGE_FACTOR)


@dataclass(frozen=True)
class NewPostings:
    """A new segment: its id, the binary ``COPY`` stream of its rows in the primary key's
    order, its row count, its item count (items with a term) and total length."""

    seg: int
    payload: bytes
    rows: int
    docs: int
    total_length: int

    def __len__(self) -> int:
        return self.rows


COLUMNS = "term_hash, seg, items, tfs, lengths, terms"
"""The columns of the rows, in the stream's order."""

# Binary COPY: a row's field count; each field's byte size then its bytes (a NULL is size
# -1 and no bytes); an array's header is (dimensions, has nulls, element type, size, lower
# bound), then each element's size and bytes.
_TEXT_OID, _INT4_OID = 25, 23
_ROW_START = np.dtype([("fields", ">i2"), ("key_size", ">i4")])
_ROW_MIDDLE = np.dtype(
    [("seg_size", ">i4"), ("seg", ">i8"), ("items_size", ">i4"), ("items_header", ">i4", (5,))]
)
_INTS_HEAD = np.dtype([("size", ">i4"), ("header", ">i4", (5,))])
_ELEMENT = np.dtype([("size", ">i4"), ("value", ">i4")])
_SIZE = np.dtype(">i4")
_KEY_BYTES = 16


@dataclass(frozen=True)
class _Items:
    """The items' array elements end to end (``data``), each one's offset and size."""

    data: npt.NDArray[np.uint8]
    starts: I64
    sizes: I64


@dataclass(frozen=True)
class _Rows:
    """A segment's rows in key order: each row's key (``keys[r, :key_sizes[r]]``), whether
    it is a bucket's shared row, and its postings, a run of the posting arrays (each
    posting's text, term frequency and term key)."""

    keys: npt.NDArray[np.uint8]
    key_sizes: I64
    shared: npt.NDArray[np.bool_]
    counts: I64
    starts: I64
    texts: I64
    tf: I64
    term_keys: npt.NDArray[np.uint8]


def analyze_new(analyzer: str, new: Iterable[tuple[str, str]], seg: int) -> NewPostings:
    """Segment ``seg`` of ``new`` (id, text) items, ready to send. Client work only (no
    connection): ``upsert`` runs it while the server merges the items (``write_items``'s
    ``meanwhile``). Its rows are in the primary key's order, built by numpy in blocks of
    ``_BLOCK_ROWS`` rows (the byte indexes of a block are 8 bytes per byte built)."""
    indexed = [(item_id, text) for item_id, text in new if text]
    batch = analyze_batch_arrays([text for _, text in indexed], analyzer)
    # Each item's element of an items array: its size, then the id's bytes.
    elements = [struct.pack(">i", len(e)) + e for e in (i.encode() for i, _ in indexed)]
    sizes = np.fromiter(map(len, elements), dtype=np.int64, count=len(elements))
    items = _Items(
        np.frombuffer(b"".join(elements), dtype=np.uint8), np.cumsum(sizes) - sizes, sizes
    )
    rows = _rows(batch)
    blocks = [
        _block(rows, items, batch.lengths, seg, at, min(at + _BLOCK_ROWS, len(rows.counts)))
        for at in range(0, len(rows.counts), _BLOCK_ROWS)
    ]
    payload = b"".join([COPY_SIGNATURE, *(b.data for b in blocks), COPY_TRAILER])
    return NewPostings(seg, payload, len(rows.counts), len(indexed), int(batch.lengths.sum()))


_BLOCK_ROWS = 4096


def _rows(batch: BatchArrays) -> _Rows:
    """The rows of ``batch``'s postings: a row per term of ``SHARED_BELOW`` postings or
    more, a row per bucket for the others, in PostgreSQL's order of the keys (``bytea``:
    bytes compared in order, a prefix first)."""
    vocabulary = len(batch.vocabulary)
    keys = np.frombuffer(b"".join(term_key(t) for t in batch.vocabulary), dtype=np.uint8).reshape(
        vocabulary, _KEY_BYTES
    )
    counts = np.bincount(batch.term_ranks, minlength=vocabulary).astype(np.int64)
    # The postings are sorted by term: a term's are one run of the batch's arrays.
    firsts = np.cumsum(counts) - counts
    words = keys.view(">u8").astype(np.uint64)
    shared = counts < SHARED_BELOW
    lead = words[:, 0] >> np.uint64(48)  # the key's first two bytes
    lead[shared] %= np.uint64(BUCKETS)
    # By the row key's first two bytes, a bucket's row before the terms of the same two
    # bytes, then by term key (within a bucket too: its postings in term order).
    order = np.lexsort((words[:, 1], words[:, 0], ~shared, lead))
    shared, lead = shared[order], lead[order]
    new_row = np.ones(vocabulary, dtype=np.bool_)
    new_row[1:] = ~shared[1:] | ~shared[:-1] | (lead[1:] != lead[:-1])
    firsts_of_rows = np.flatnonzero(new_row)
    term_counts, ordered_keys = counts[order], keys[order]
    row_counts = (
        np.add.reduceat(term_counts, firsts_of_rows) if vocabulary else term_counts
    ).astype(np.int64)
    row_keys = ordered_keys[firsts_of_rows]
    row_shared = shared[firsts_of_rows]
    row_keys[row_shared, :2] = (
        lead[firsts_of_rows][row_shared].astype(">u2").view(np.uint8).reshape(-1, 2)
    )
    postings = _runs(firsts[order], term_counts)
    return _Rows(
        keys=row_keys,
        key_sizes=np.where(row_shared, 2, _KEY_BYTES).astype(np.int64),
        shared=row_shared,
        counts=row_counts,
        starts=np.cumsum(row_counts) - row_counts,
        texts=batch.texts[postings],
        tf=batch.tf[postings],
        term_keys=np.repeat(ordered_keys, term_counts, axis=0),
    )


def _block(
    rows: _Rows, items: _Items, lengths_of_texts: I64, seg: int, first: int, stop: int
) -> npt.NDArray[np.uint8]:
    """The stream's bytes of rows ``first:stop``."""
    counts = rows.counts[first:stop]
    shared = rows.shared[first:stop]
    begin = int(rows.starts[first])
    end = begin + int(counts.sum())
    run_starts = rows.starts[first:stop] - begin
    texts = rows.texts[begin:end]
    item_sizes = items.sizes[texts]
    row_item_bytes = np.add.reduceat(item_sizes, run_starts) if len(counts) else item_sizes
    n = len(counts)

    start = np.zeros(n, dtype=_ROW_START)
    start["fields"] = 6
    start["key_size"] = rows.key_sizes[first:stop]
    middle = np.zeros(n, dtype=_ROW_MIDDLE)
    middle["seg_size"] = 8
    middle["seg"] = seg
    middle["items_size"] = 20 + row_item_bytes
    middle["items_header"] = _array_headers(_TEXT_OID, counts)
    ints_head = np.zeros(n, dtype=_INTS_HEAD)
    ints_head["size"] = 20 + 8 * counts
    ints_head["header"] = _array_headers(_INT4_OID, counts)
    tfs = np.empty(end - begin, dtype=_ELEMENT)
    tfs["size"] = 4
    tfs["value"] = rows.tf[begin:end]
    lengths = np.empty(end - begin, dtype=_ELEMENT)
    lengths["size"] = 4
    lengths["value"] = lengths_of_texts[texts]
    items_bytes = items.data[_runs(items.starts[texts], item_sizes)]
    # A bucket's row lists each posting's term key; a term's own row has none (NULL).
    terms_bytes = np.where(shared, _KEY_BYTES * counts, 0)
    terms_size = np.where(shared, terms_bytes, -1).astype(_SIZE)

    # Each row: start, key, middle, items, ints head, tfs, ints head, lengths, terms size,
    # terms: pieces of known sizes.
    fixed = np.arange(n, dtype=np.int64)
    return _interleave(
        [
            (_bytes(start), np.full(n, _ROW_START.itemsize), fixed * _ROW_START.itemsize),
            (rows.keys[first:stop].ravel(), rows.key_sizes[first:stop], fixed * _KEY_BYTES),
            (_bytes(middle), np.full(n, _ROW_MIDDLE.itemsize), fixed * _ROW_MIDDLE.itemsize),
            (items_bytes, row_item_bytes, np.cumsum(row_item_bytes) - row_item_bytes),
            (_bytes(ints_head), np.full(n, _INTS_HEAD.itemsize), fixed * _INTS_HEAD.itemsize),
            (_bytes(tfs), 8 * counts, 8 * run_starts),
            (_bytes(ints_head), np.full(n, _INTS_HEAD.itemsize), fixed * _INTS_HEAD.itemsize),
            (_bytes(lengths), 8 * counts, 8 * run_starts),
            (_bytes(terms_size), np.full(n, 4), fixed * 4),
            (rows.term_keys[begin:end].ravel(), terms_bytes, _KEY_BYTES * run_starts),
        ]
    )


def _array_headers(element_type: int, counts: I64) -> I64:
    """Each array's header: one dimension, no nulls, the element type, size, lower bound 1."""
    headers = np.empty((len(counts), 5), dtype=np.int64)
    headers[:] = (1, 0, element_type, 0, 1)
    headers[:, 3] = counts
    return headers


def _bytes(array: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    return np.frombuffer(array.tobytes(), dtype=np.uint8)


def _runs(starts: I64, sizes: I64) -> I64:
    """The indexes ``starts[i] .. starts[i] + sizes[i] - 1``, run after run."""
    within = np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(sizes) - sizes, sizes
    )
    runs: I64 = np.repeat(starts, sizes) + within
    return runs


def _interleave(pieces: list[tuple[npt.NDArray[np.uint8], I64, I64]]) -> npt.NDArray[np.uint8]:
    """Rows made of pieces: row ``r`` is, for each piece ``(source, sizes, starts)``,
    ``sizes[r]`` bytes of ``source`` from ``starts[r]``. One gather from the sources put
    end to end: each output byte's source is its run's start plus its place in the run."""
    bases = np.cumsum([0] + [len(source) for source, _, _ in pieces])
    run_sizes = np.stack([sizes for _, sizes, _ in pieces], axis=1).ravel()
    run_starts = np.stack(
        [base + starts for base, (_, _, starts) in zip(bases.tolist(), pieces, strict=False)],
        axis=1,
    ).ravel()
    joined = np.concatenate([source for source, _, _ in pieces])
    picked: npt.NDArray[np.uint8] = joined[_runs(run_starts, run_sizes)]
    return picked


def write_segment(conn: Conn, layout: Layout, collection_id: int, new: NewPostings) -> None:
    """Write segment ``new`` and register it (``add_postings`` moves the collection's
    counter to its id)."""
    if len(new):
        query = sql.SQL("COPY {} (" + COLUMNS + ") FROM STDIN (FORMAT BINARY)").format(
            layout.postings(collection_id)
        )
        with conn.cursor() as cur, cur.copy(query) as copy:
            copy.write(new.payload)
        conn.execute(
            sql.SQL("INSERT INTO {} (seg, tier, docs) VALUES (%s, %s, %s)").format(
                layout.segments(collection_id)
            ),
            (new.seg, tier(new.docs), new.docs),
        )
