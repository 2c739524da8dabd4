"""The byte format of a text postings segment (``textindex``), built and merged by numpy.

A segment holds the postings of one write batch (or of merged segments) in two blobs:

* ``terms``: the segment's distinct terms in code-point order, as ``int32 n``, ``int32
  starts[n + 1]`` (each term's first posting; ``starts[n]`` is the count), then the terms
  in UTF-8, separated by NUL (a term is a run of letters and digits, never holding one);
* ``postings`` (stored in chunks, ``chunks``): per posting 16 bytes, ``int64 item`` (the
  items table's rowid), ``int32 tf`` and ``int32 length`` (the item's length in terms),
  grouped by term, items ascending.

Everything is little-endian. Building one costs no Python step per posting or per term
beyond what ``text.analyze_batch_arrays`` already did: the starts and the records are numpy
operations over the batch's arrays, the terms one ``join``. The dictionary a query reads is
kept as rows (``textindex``); the ``terms`` blob serves merges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ...text import I64

__all__ = [
    "CHUNK_BYTES",
    "POSTING",
    "Dictionary",
    "Segment",
    "chunk_key",
    "chunk_range",
    "chunks",
    "segment_keys",
    "term_item_order",
    "encode",
    "merge",
]

POSTING = np.dtype([("item", "<i8"), ("tf", "<i4"), ("length", "<i4")])
# The postings blob is stored in chunks that fit a 4 KiB page's cell (at most 4,061 bytes of
# payload before SQLite spills to overflow pages), a multiple of a record's 16 bytes: SQLite
# keeps a large blob as a linked list of overflow pages, so reading a term's range at an
# offset of a 2 MB blob (incremental blob I/O) walked the list from its start, ~2.4 ms per
# read measured here; a chunk is found through the table's B-tree instead.
CHUNK_BYTES = 252 * POSTING.itemsize
_CHUNK_BITS = 32  # a chunk's key: its segment id, then its index in the segment's postings
_I32 = np.dtype("<i4")

Postings = npt.NDArray[np.void]


@dataclass(frozen=True)
class Segment:
    """An encoded segment: its two blobs and its number of distinct items, with the
    vocabulary and each term's first posting (``starts[-1]`` the count) it was made from."""

    terms: bytes
    postings: bytes
    docs: int
    vocabulary: list[str]
    starts: I64


def encode(vocabulary: list[str], term_ids: I64, records: Postings, docs: int) -> Segment:
    """The segment of ``records`` (``POSTING`` values sorted by term id then item) of
    ``docs`` distinct items, whose term ids index ``vocabulary`` (sorted, every term used
    at least once)."""
    n = len(vocabulary)
    starts = np.searchsorted(term_ids, np.arange(n + 1)).astype(_I32)
    head = np.array([n], dtype=_I32)
    terms = head.tobytes() + starts.tobytes() + "\0".join(vocabulary).encode()
    return Segment(terms, records.tobytes(), docs, vocabulary, starts.astype(np.int64))


def term_item_order(term_ids: I64, items: I64) -> I64:
    """The order that sorts postings by (term id, item): one argsort of a combined integer
    key when both fit in 63 bits (always, short of 2^40 rowids), else a lexsort."""
    if not len(items):
        return np.empty(0, dtype=np.int64)
    lo, hi = int(items.min()), int(items.max())
    span = hi - lo + 1
    if lo >= 0 and span * (int(term_ids.max()) + 1) < 2**62:
        return np.argsort(term_ids * span + (items - lo), kind="stable")
    return np.lexsort((items, term_ids))


def _distinct(values: I64) -> int:
    if not len(values):
        return 0
    ordered = np.sort(values)
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))


def chunk_key(seg: int, index: int) -> int:
    return (seg << _CHUNK_BITS) | index


def chunks(seg: int, postings: bytes) -> list[tuple[int, bytes]]:
    """(key, data) of each chunk of a segment's postings blob."""
    return [
        (chunk_key(seg, i), postings[start : start + CHUNK_BYTES])
        for i, start in enumerate(range(0, len(postings), CHUNK_BYTES))
    ]


def chunk_range(seg: int, start: int, n: int) -> tuple[int, int, int, int]:
    """For the records ``[start, start + n)`` of segment ``seg``: the keys of the first and
    last chunk holding them and their byte range in those chunks joined."""
    first, last = start * POSTING.itemsize, (start + n) * POSTING.itemsize
    c0, c1 = first // CHUNK_BYTES, (last - 1) // CHUNK_BYTES
    base = c0 * CHUNK_BYTES
    return chunk_key(seg, c0), chunk_key(seg, c1), first - base, last - base


def segment_keys(seg: int) -> tuple[int, int]:
    """The first and last chunk key a segment can have."""
    return chunk_key(seg, 0), chunk_key(seg, (1 << _CHUNK_BITS) - 1)


class Dictionary:
    """A decoded ``terms`` blob: the vocabulary and each term's posting range."""

    __slots__ = ("_starts", "_text")

    def __init__(self, blob: bytes) -> None:
        n = int(np.frombuffer(blob, dtype=_I32, count=1)[0])
        self._starts = np.frombuffer(blob, _I32, n + 1, 4).astype(np.int64)
        self._text = blob[4 * (n + 2) :] if n else b""

    def vocabulary(self) -> list[str]:
        return self._text.decode().split("\0") if len(self._starts) > 1 else []

    def starts(self) -> I64:
        return self._starts

    def term_ids(self) -> I64:
        """Each posting's term index (postings are grouped by term)."""
        starts = self._starts
        return np.repeat(np.arange(len(starts) - 1, dtype=np.int64), np.diff(starts))


def merge(parts: Sequence[tuple[list[str], I64, Postings]]) -> Segment:
    """One segment holding the postings of ``parts``, each ``(vocabulary, term ids,
    records)`` as ``Dictionary`` gives them with the dead records dropped: the vocabularies
    united, local term ids mapped to the merged ones, and one sort by (term, item)."""
    merged = sorted(set().union(*(vocabulary for vocabulary, _, _ in parts)))
    rank_of = {term: rank for rank, term in enumerate(merged)}
    term_ids: list[I64] = []
    for vocabulary, local_ids, _ in parts:
        local = np.fromiter(map(rank_of.__getitem__, vocabulary), np.int64, len(vocabulary))
        term_ids.append(local[local_ids])
    all_ids = np.concatenate(term_ids) if term_ids else np.empty(0, np.int64)
    records = np.concatenate([r for _, _, r in parts]) if parts else np.empty(0, POSTING)
    order = term_item_order(all_ids, records["item"].astype(np.int64))
    all_ids, records = all_ids[order], records[order]
    # Terms whose every posting was dead leave the vocabulary (all_ids is sorted).
    first = np.ones(len(all_ids), dtype=bool)
    first[1:] = all_ids[1:] != all_ids[:-1]
    used = all_ids[first]
    if len(used) < len(merged):
        merged = [merged[i] for i in used.tolist()]
        all_ids = np.cumsum(first) - 1
    return encode(merged, all_ids, records, _distinct(records["item"].astype(np.int64)))
