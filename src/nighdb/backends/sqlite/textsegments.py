"""The byte format of a text postings segment (``textindex``), built and merged by numpy.

A segment holds the postings of one write batch (or of merged segments) in two blobs:

* ``terms``: a header, then the segment's distinct terms in code-point order, as ``int32
  n``, ``int32 starts[n + 1]`` (each term's first posting; ``starts[n]`` is the count), then
  the terms in UTF-8, separated by NUL (a term is a run of letters and digits, never holding
  one). It is the segment's dictionary: a query finds its terms' ranges in it
  (``Dictionary``);
* ``postings`` (stored in chunks, ``chunks``): per posting the item (the items table's
  rowid), its term frequency and its length in terms, grouped by term. Within a term the
  order is the order they were written in, which no reader relies on
  (``nighdb.text.bm25_scores`` takes postings in any order).

The header says how a posting is stored (``Records``). Format 2 (schema 6): ``int32 -2``,
``int64 base``, then one byte each for the widths of the three fields and a pad byte; each
field is an unsigned integer of the fewest bytes (1, 2, 4 or 8) that hold the segment's
largest value, the item as its offset from ``base``, the segment's smallest rowid. A batch
of 10,000 texts stores 4 bytes a posting (2 for the item, 1 each for the rest), a merge of
80,000 6 bytes: a quarter to three eighths of format 1, which had no header (``int32 n``
first, never negative) and 16 bytes a posting (``int64 item``, ``int32 tf``, ``int32
length``). Its bytes are most of what text adds to a write's commit and a merge reads and
writes; format 1 segments are still read as they are, so no upgrade rewrites them.

Everything is little-endian. Neither building nor merging segments costs a Python step per
posting, nor a sort of the postings: the starts, the records and a merge's placement of
every record are numpy operations over whole arrays (a merge sorts only its (term, input)
runs, about a tenth as many).
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ...errors import InvalidArgumentError
from ...text import I64

__all__ = [
    "POSTING",
    "Dictionary",
    "Part",
    "Records",
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
"""A posting as the code handles it (and as format 1 stores it): item rowid, tf, length."""

# The postings blob is stored in chunks that fit a 4 KiB page's cell (at most 4,061 bytes of
# payload before SQLite spills to overflow pages), a whole number of records each: SQLite
# keeps a large blob as a linked list of overflow pages, so reading a term's range at an
# offset of a 2 MB blob (incremental blob I/O) walked the list from its start, ~2.4 ms per
# read measured here; a chunk is found through the table's B-tree instead.
_CHUNK_BYTES = 252 * POSTING.itemsize  # 252 format-1 records, as format 1 was chunked
_CHUNK_BITS = 32  # a chunk's key: its segment id, then its index in the segment's postings
_I32 = np.dtype("<i4")
_FORMAT_2 = struct.Struct("<iqBBBx")  # the tag, base, the widths of item offset, tf and length
_FORMAT_2_TAG = -2  # the header's first int32: format 1 starts with its term count instead
_WIDTHS = (1, 2, 4, 8)

Postings = npt.NDArray[np.void]


def _width(largest: int) -> int:
    """The fewest bytes of an unsigned integer that holds ``largest``."""
    return next(w for w in _WIDTHS if largest < 1 << (8 * w))


@dataclass(frozen=True)
class Records:
    """How a segment stores a posting: ``stored``, a record of three fields (``POSTING``'s
    names), the item as its offset from ``base``. Packing and unpacking convert to and from
    ``POSTING`` records."""

    base: int
    stored: np.dtype[np.void]

    @classmethod
    def fitting(cls, records: Postings) -> Records:
        """The narrowest format 2 records that hold ``records``."""
        if not len(records):
            return cls(0, _stored(1, 1, 1))
        items = records["item"]
        base = int(items.min())
        return cls(
            base,
            _stored(
                _width(int(items.max()) - base),
                _width(int(records["tf"].max())),
                _width(int(records["length"].max())),
            ),
        )

    @property
    def size(self) -> int:
        """Bytes per record."""
        return self.stored.itemsize

    def header(self) -> bytes:
        fields = self.stored.fields
        assert fields is not None
        widths = (fields[name][0].itemsize for name in ("item", "tf", "length"))
        return _FORMAT_2.pack(_FORMAT_2_TAG, self.base, *widths)

    def pack(self, records: Postings) -> bytes:
        out = np.empty(len(records), dtype=self.stored)
        out["item"] = records["item"] - self.base
        out["tf"] = records["tf"]
        out["length"] = records["length"]
        return out.tobytes()

    def unpack(self, data: bytes) -> Postings:
        raw = np.frombuffer(data, dtype=self.stored)
        if self.stored == POSTING:  # format 1, stored as it is used
            return raw
        out = np.empty(len(raw), dtype=POSTING)
        out["item"] = raw["item"]
        out["item"] += self.base
        out["tf"] = raw["tf"]
        out["length"] = raw["length"]
        return out


def _stored(item: int, tf: int, length: int) -> np.dtype[np.void]:
    return np.dtype([("item", f"<u{item}"), ("tf", f"<u{tf}"), ("length", f"<u{length}")])


_FORMAT_1 = Records(0, POSTING)


@dataclass(frozen=True)
class Segment:
    """An encoded segment: its two blobs, its number of distinct items and how it stores a
    posting."""

    terms: bytes
    postings: bytes
    docs: int
    records: Records


def term_starts(term_ids: I64, n_terms: int) -> I64:
    """Each term's first posting (and the count last), of postings grouped by ``term_ids``
    in ascending order."""
    return np.searchsorted(term_ids, np.arange(n_terms + 1)).astype(np.int64)


def encode(vocabulary: list[str], starts: I64, records: Postings, docs: int) -> Segment:
    """The segment of ``records`` (``POSTING`` values grouped by term, ``starts`` each
    term's first) of ``docs`` distinct items; ``vocabulary`` sorted, every term used."""
    stored = Records.fitting(records)
    head = stored.header() + np.array([len(vocabulary)], dtype=_I32).tobytes()
    terms = head + starts.astype(_I32).tobytes() + "\0".join(vocabulary).encode()
    return Segment(terms, stored.pack(records), docs, stored)


def chunk_key(seg: int, index: int) -> int:
    return (seg << _CHUNK_BITS) | index


def _chunk_records(stored: Records) -> int:
    return _CHUNK_BYTES // stored.size


def chunks(seg: int, segment: Segment) -> list[tuple[int, bytes]]:
    """(key, data) of each chunk of a segment's postings blob."""
    step = _chunk_records(segment.records) * segment.records.size
    postings = segment.postings
    return [
        (chunk_key(seg, i), postings[start : start + step])
        for i, start in enumerate(range(0, len(postings), step))
    ]


def chunk_range(seg: int, stored: Records, start: int, n: int) -> tuple[int, int, int, int]:
    """For the records ``[start, start + n)`` of segment ``seg``: the keys of the first and
    last chunk holding them and their byte range in those chunks joined."""
    per_chunk = _chunk_records(stored)
    c0, c1 = start // per_chunk, (start + n - 1) // per_chunk
    lo = (start - c0 * per_chunk) * stored.size
    return chunk_key(seg, c0), chunk_key(seg, c1), lo, lo + n * stored.size


def segment_keys(seg: int) -> tuple[int, int]:
    """The first and last chunk key a segment can have."""
    return chunk_key(seg, 0), chunk_key(seg, (1 << _CHUNK_BITS) - 1)


class Dictionary:
    """A decoded ``terms`` blob: the vocabulary and each term's posting range."""

    __slots__ = ("_starts", "_vocabulary", "records")

    def __init__(self, blob: bytes) -> None:
        at = 0
        self.records = _FORMAT_1
        first = int(np.frombuffer(blob, dtype=_I32, count=1)[0])
        if first < 0:
            if first != _FORMAT_2_TAG:
                # A later format, written by a newer nighdb: refused, never misread.
                raise InvalidArgumentError(
                    f"a text segment of this database is in format {-first}, newer than this "
                    "version of nighdb reads (2); upgrade nighdb"
                )
            _, base, item, tf, length = _FORMAT_2.unpack_from(blob)
            self.records = Records(base, _stored(item, tf, length))
            at = _FORMAT_2.size
        n = int(np.frombuffer(blob, dtype=_I32, count=1, offset=at)[0])
        self._starts = np.frombuffer(blob, _I32, n + 1, at + 4).astype(np.int64)
        self._vocabulary = blob[at + 4 * (n + 2) :].decode().split("\0") if n else []

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
    term), how many of them each term has (``counts``, ``len(vocabulary)`` of them) and, when
    known, how many distinct items they hold (``docs``: a segment none of whose postings
    died holds its row's count)."""

    vocabulary: list[str]
    counts: I64
    records: Postings
    docs: int | None = None


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
    # An item's live postings are all in one segment (a rewrite's tombstone kills the older
    # ones), so the parts' counts add up when every part knows its own.
    known = [part.docs for part in parts if part.docs is not None]
    exact = len(known) == len(parts)
    docs = sum(known) if exact else _distinct(records["item"].astype(np.int64))
    return encode(vocabulary, starts, records, docs)


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
