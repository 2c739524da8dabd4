"""The byte format of a text postings segment (``textindex``), built and merged by numpy.

A segment holds the postings of one write batch (or of merged segments) in two blobs:

* ``terms``: the segment's distinct terms in code-point order, as ``int32 n``, ``int32
  starts[n + 1]`` (each term's first posting; ``starts[n]`` is the count), then the terms
  in UTF-8, separated by NUL (a term is a run of letters and digits, never holding one).
  It is the segment's dictionary: a query finds its terms' ranges in it (``Dictionary``);
* ``postings`` (stored in chunks, ``chunks``): per posting 16 bytes, ``int64 item`` (the
  items table's rowid), ``int32 tf`` and ``int32 length`` (the item's length in terms),
  grouped by term. Within a term the order is the order they were written in, which no
  reader relies on (``nighdb.text.bm25_scores`` takes postings in any order).

Everything is little-endian. Neither building nor merging segments costs a Python step per
posting, nor a sort of the postings: the starts, the records and a merge's placement of
every record are numpy operations over whole arrays (a merge sorts only its (term, input)
runs, about a tenth as many).
"""

from __future__ import annotations

import bisect
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
    "encode",
    "merge",
    "segment_keys",
    "term_starts",
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
    """An encoded segment: its two blobs and its number of distinct items."""

    terms: bytes
    postings: bytes
    docs: int


def term_starts(term_ids: I64, n_terms: int) -> I64:
    """Each term's first posting (and the count last), of postings grouped by ``term_ids``
    in ascending order."""
    return np.searchsorted(term_ids, np.arange(n_terms + 1)).astype(np.int64)


def encode(vocabulary: list[str], starts: I64, records: Postings, docs: int) -> Segment:
    """The segment of ``records`` (``POSTING`` values grouped by term, ``starts`` each
    term's first) of ``docs`` distinct items; ``vocabulary`` sorted, every term used."""
    head = np.array([len(vocabulary)], dtype=_I32)
    terms = head.tobytes() + starts.astype(_I32).tobytes() + "\0".join(vocabulary).encode()
    return Segment(terms, records.tobytes(), docs)


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

    __slots__ = ("_starts", "_vocabulary")

    def __init__(self, blob: bytes) -> None:
        n = int(np.frombuffer(blob, dtype=_I32, count=1)[0])
        self._starts = np.frombuffer(blob, _I32, n + 1, 4).astype(np.int64)
        self._vocabulary = blob[4 * (n + 2) :].decode().split("\0") if n else []

    def __len__(self) -> int:
        return len(self._vocabulary)

    def vocabulary(self) -> list[str]:
        return self._vocabulary

    def starts(self) -> I64:
        return self._starts

    def counts(self) -> I64:
        """Each term's number of postings."""
        return np.diff(self._starts)

    def find(self, term: str) -> tuple[int, int] | None:
        """``term``'s first posting and number of postings, or ``None``: a binary search
        (the vocabulary is sorted in code-point order, which is how ``str`` compares)."""
        vocabulary = self._vocabulary
        lo = bisect.bisect_left(vocabulary, term)
        if lo == len(vocabulary) or vocabulary[lo] != term:
            return None
        start = int(self._starts[lo])
        return start, int(self._starts[lo + 1]) - start

    def term_ids(self) -> I64:
        """Each posting's term index (postings are grouped by term)."""
        return np.repeat(np.arange(len(self._vocabulary), dtype=np.int64), self.counts())


@dataclass(frozen=True)
class Part:
    """A merge's input: a segment's ``vocabulary``, its live ``records`` (still grouped by
    term) and how many of them each term has (``counts``, ``len(vocabulary)`` of them)."""

    vocabulary: list[str]
    counts: I64
    records: Postings


def merge(parts: Sequence[Part]) -> Segment:
    """One segment holding the records of ``parts``: the vocabularies united and each
    term's records placed part after part. Only the (term, part) runs are sorted; every
    record then lands at its run's place plus its offset in the run (one scatter)."""
    if not parts:
        return encode([], np.zeros(1, dtype=np.int64), np.empty(0, dtype=POSTING), 0)
    merged = sorted(set().union(*(part.vocabulary for part in parts)))
    rank_of = {term: rank for rank, term in enumerate(merged)}
    run_terms, run_parts, run_counts, run_firsts = [], [], [], []
    for index, part in enumerate(parts):
        ranks = np.fromiter(map(rank_of.__getitem__, part.vocabulary), np.int64, len(part.counts))
        used = part.counts > 0
        run_terms.append(ranks[used])
        run_parts.append(np.full(int(used.sum()), index, dtype=np.int64))
        run_counts.append(part.counts[used])
        run_firsts.append((np.cumsum(part.counts) - part.counts)[used])
    terms, owners = np.concatenate(run_terms), np.concatenate(run_parts)
    counts, firsts = np.concatenate(run_counts), np.concatenate(run_firsts)
    order = np.lexsort((owners, terms))
    places = np.empty(len(order), dtype=np.int64)  # each run's first place in the merge
    places[order] = np.cumsum(counts[order]) - counts[order]
    records = np.empty(int(counts.sum()), dtype=POSTING)
    shift = places - firsts  # a record's place is its index in its part plus its run's shift
    at = 0
    for part, n_runs in zip(parts, map(len, run_terms), strict=True):
        run_shift, run_count = shift[at : at + n_runs], counts[at : at + n_runs]
        records[np.repeat(run_shift, run_count) + np.arange(len(part.records))] = part.records
        at += n_runs
    # Terms whose every record was dead leave the vocabulary.
    totals = np.bincount(terms, weights=counts, minlength=len(merged)).astype(np.int64)
    live = np.flatnonzero(totals)
    starts = np.concatenate(([0], np.cumsum(totals[live])))
    vocabulary = merged if len(live) == len(merged) else [merged[i] for i in live.tolist()]
    return encode(vocabulary, starts, records, _distinct(records["item"].astype(np.int64)))


def _distinct(values: I64) -> int:
    """How many distinct values: a bitmap over their span when it is small, else a sort."""
    if not len(values):
        return 0
    lo, hi = int(values.min()), int(values.max())
    if hi - lo < 16 * len(values):
        seen = np.zeros(hi - lo + 1, dtype=bool)
        seen[values - lo] = True
        return int(np.count_nonzero(seen))
    ordered = np.sort(values)
    return 1 + int(np.count_nonzero(ordered[1:] != ordered[:-1]))
