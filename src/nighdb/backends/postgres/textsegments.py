"""Text postings of the pgvector backend as segments (contract §14): one row per term of
each segment, the segment's postings of that term as arrays.

Per collection: ``nigh_tpost_<id>(term_hash, seg, items, tfs, lengths)``, keyed by
``(term_hash, seg)``: a term's postings in segment ``seg``, the items' ids, term frequencies
and lengths in terms (so that a search reads no other table for BM25); a segment is the
postings of one write (``upsert``, or ``update`` of texts), or the merge of others
(``textmerges``). ``nigh_tsegs_<id>(seg, tier, docs)`` lists the segments; ids come from
``nigh_collections.text_segment``, a counter under the collection's lock, never reused.
``nigh_ttomb_<id>(item_hash, item, before)`` holds the tombstones: the postings of ``item``
in the segments with an id below ``before`` are dead (the item was replaced or deleted). A
live posting is one no tombstone covers, the document frequency of a term the count of its
live postings (``postings.scored_postings``): the semantics of the SQLite backend's segments.

Why arrays: one row per posting (~145,000 per batch of 10,000 items) cost the server a heap
tuple and a btree entry each, ~0.44 s of a backend's CPU and ~36 MB of WAL per batch; one
row per (term, segment) is ~16,000 rows, ~0.08 s and ~5.5 MB (docs/benchmarks.md).

This module builds a segment's rows on the client, as one binary ``COPY`` stream, with no
Python object per posting (``analyze_new``), and writes it (``write_segment``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from psycopg import sql

from ...text import I64, BatchArrays, analyze_batch_arrays, segment_tier
from .schema import Conn, Layout
from .write import COPY_SIGNATURE, COPY_TRAILER

__all__ = [
    "MERGE_FACTOR",
    "NewPostings",
    "analyze_new",
    "item_key",
    "term_key",
    "tier",
    "write_segment",
]

MERGE_FACTOR = 8
"""Segments of one size tier merged into one (``textmerges``); a tier is ``floor(log_F(docs))``."""


def term_key(term: str) -> bytes:
    """The key of a term (16 bytes of BLAKE2b: collisions are out of reach)."""
    return hashlib.blake2b(term.encode("utf-8"), digest_size=16).digest()


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


# Binary COPY: a row's field count; each field's byte size then its bytes; an array's
# header is (dimensions, has nulls, element type, size, lower bound), then each element's
# size and bytes.
_TEXT_OID, _INT4_OID = 25, 23
_ROW_HEAD = np.dtype(
    [
        ("fields", ">i2"),
        ("term_size", ">i4"),
        ("term", "S16"),
        ("seg_size", ">i4"),
        ("seg", ">i8"),
        ("items_size", ">i4"),
        ("items_header", ">i4", (5,)),
    ]
)
_INTS_HEAD = np.dtype([("size", ">i4"), ("header", ">i4", (5,))])
_ELEMENT = np.dtype([("size", ">i4"), ("value", ">i4")])


def analyze_new(analyzer: str, new: Iterable[tuple[str, str]], seg: int) -> NewPostings:
    """Segment ``seg`` of ``new`` (id, text) items, ready to send. Client work only (no
    connection): ``upsert`` runs it while the server merges the items (``write_items``'s
    ``meanwhile``). Its rows are in the primary key's order, term key first, built by numpy
    in blocks of ``_BLOCK_ROWS`` (the byte indexes of a block are 8 bytes per byte built)."""
    indexed = [(item_id, text) for item_id, text in new if text]
    batch = analyze_batch_arrays([text for _, text in indexed], analyzer)
    keys = [term_key(t) for t in batch.vocabulary]
    # Each item's element of an items array: its size, then the id's bytes.
    elements = [struct.pack(">i", len(e)) + e for e in (i.encode() for i, _ in indexed)]
    sizes = np.fromiter(map(len, elements), dtype=np.int64, count=len(elements))
    items = _Items(
        np.frombuffer(b"".join(elements), dtype=np.uint8), np.cumsum(sizes) - sizes, sizes
    )
    order = _byte_order(keys)  # the rows in key order
    blocks = [
        _block(batch, np.array(keys, dtype="S16"), items, seg, order[at : at + _BLOCK_ROWS])
        for at in range(0, len(order), _BLOCK_ROWS)
    ]
    payload = b"".join([COPY_SIGNATURE, *(b.data for b in blocks), COPY_TRAILER])
    return NewPostings(seg, payload, len(keys), len(indexed), int(batch.lengths.sum()))


_BLOCK_ROWS = 4096


@dataclass(frozen=True)
class _Items:
    """The items' array elements end to end (``data``), each one's offset and size."""

    data: npt.NDArray[np.uint8]
    starts: I64
    sizes: I64


def _block(
    batch: BatchArrays, keys: npt.NDArray[np.bytes_], items: _Items, seg: int, rows: I64
) -> npt.NDArray[np.uint8]:
    """The stream's bytes of the terms ``rows`` (ranks in ``batch.vocabulary``), in order."""
    # A term's postings are one run of the batch's arrays (sorted by term, then text).
    firsts = np.searchsorted(batch.term_ranks, rows)
    counts = np.searchsorted(batch.term_ranks, rows, side="right") - firsts
    run_starts = np.cumsum(counts) - counts
    postings = _runs(firsts, counts)
    texts = batch.texts[postings]
    item_sizes = items.sizes[texts]
    row_item_bytes = np.add.reduceat(item_sizes, run_starts) if len(rows) else item_sizes
    n = len(rows)

    head = np.zeros(n, dtype=_ROW_HEAD)
    head["fields"] = 5
    head["term_size"] = 16
    head["term"] = keys[rows]
    head["seg_size"] = 8
    head["seg"] = seg
    head["items_size"] = 20 + row_item_bytes
    head["items_header"] = _array_headers(_TEXT_OID, counts)
    ints_head = np.zeros(n, dtype=_INTS_HEAD)
    ints_head["size"] = 20 + 8 * counts
    ints_head["header"] = _array_headers(_INT4_OID, counts)
    tfs = np.empty(len(postings), dtype=_ELEMENT)
    tfs["size"] = 4
    tfs["value"] = batch.tf[postings]
    lengths = np.empty(len(postings), dtype=_ELEMENT)
    lengths["size"] = 4
    lengths["value"] = batch.lengths[texts]
    items_bytes = items.data[_runs(items.starts[texts], item_sizes)]

    # Each row: head, items, ints head, tfs, ints head, lengths: pieces of known sizes.
    fixed = np.arange(n, dtype=np.int64)
    return _interleave(
        [
            (_bytes(head), np.full(n, _ROW_HEAD.itemsize), fixed * _ROW_HEAD.itemsize),
            (items_bytes, row_item_bytes, np.cumsum(row_item_bytes) - row_item_bytes),
            (_bytes(ints_head), np.full(n, _INTS_HEAD.itemsize), fixed * _INTS_HEAD.itemsize),
            (_bytes(tfs), 8 * counts, 8 * run_starts),
            (_bytes(ints_head), np.full(n, _INTS_HEAD.itemsize), fixed * _INTS_HEAD.itemsize),
            (_bytes(lengths), 8 * counts, 8 * run_starts),
        ]
    )


def _array_headers(element_type: int, counts: I64) -> I64:
    """Each array's header: one dimension, no nulls, the element type, size, lower bound 1."""
    headers = np.empty((len(counts), 5), dtype=np.int64)
    headers[:] = (1, 0, element_type, 0, 1)
    headers[:, 3] = counts
    return headers


def _bytes(array: npt.NDArray[np.void]) -> npt.NDArray[np.uint8]:
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


def _byte_order(keys: list[bytes]) -> I64:
    """The order that sorts ``keys`` (all of one length, a multiple of 8) in byte order,
    PostgreSQL's order of ``bytea``: the keys as big-endian 64-bit words, sorted most
    significant first."""
    if not keys:
        return np.empty(0, dtype=np.int64)
    words = np.frombuffer(b"".join(keys), dtype=">u8").reshape(len(keys), -1)
    order: I64 = np.lexsort(words.T[::-1])
    return order


def write_segment(conn: Conn, layout: Layout, collection_id: int, new: NewPostings) -> None:
    """Write segment ``new`` and register it (``add_postings`` moves the collection's
    counter to its id)."""
    if len(new):
        query = sql.SQL(
            "COPY {} (term_hash, seg, items, tfs, lengths) FROM STDIN (FORMAT BINARY)"
        ).format(layout.postings(collection_id))
        with conn.cursor() as cur, cur.copy(query) as copy:
            copy.write(new.payload)
        conn.execute(
            sql.SQL("INSERT INTO {} (seg, tier, docs) VALUES (%s, %s, %s)").format(
                layout.segments(collection_id)
            ),
            (new.seg, tier(new.docs), new.docs),
        )
