"""Writing, merging and compacting the text postings segments (``textindex``).

After a segment is added, segments are grouped in size tiers by their item count (tier
``floor(log_F(docs))``, ``F = MERGE_FACTOR``); when a tier holds ``F`` segments they are merged
into one, which lands in a higher tier, so a collection of ``n`` items written in any batch
sizes keeps at most about ``F · log_F(n)`` segments (Lucene's tiered policy, simplified). When
the tombstones exceed a share of the items, every segment is merged into one (a compaction),
which leaves no tombstone at all. A merge drops the dead postings and the tombstones no
segment needs any more (``before <= `` the oldest segment left), and runs in the caller's
transaction like every other write.

A merged segment takes the highest id of its inputs. So a tombstone written later in the same
transaction (an upsert's, whose ``before`` is above every segment but the batch's own) still
covers it, and one that covered only some inputs (``before`` at most that id) has had its
dead postings dropped by the merge and covers none of the survivors, which are live. Each
segment row carries a random ``salt`` as well: the id is reused, so a reader's cache of
dictionaries (``textdictionaries``) keys on both.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from typing import cast

import apsw
import numpy as np
import numpy.typing as npt

from ...text import I64, segment_tier
from .schema import chunks_table, segments_table, tombstones_table
from .textsegments import Dictionary, Part, Segment, chunks, merge, segment_keys

__all__ = [
    "MERGE_FACTOR",
    "Tombstones",
    "compact_if_needed",
    "merge_if_needed",
    "next_segment",
    "write_segment",
]

MERGE_FACTOR = 8
# Compaction when the tombstones exceed this many plus a share of the items indexed: a
# query reads all of them, so they stay a small fraction of what it reads.
_TOMBSTONES_FLOOR = 1024
_TOMBSTONES_SHARE = 1 / 16


def next_segment(conn: apsw.Connection, collection_id: int) -> int:
    """The id the next segment will get (AUTOINCREMENT never hands out an id twice)."""
    row = conn.execute(
        "SELECT seq FROM sqlite_sequence WHERE name = ?", (segments_table(collection_id),)
    ).fetchone()
    return 1 + (int(cast(int, row[0])) if row else 0)


def write_segment(
    conn: apsw.Connection, collection_id: int, segment: Segment, seg: int | None = None
) -> int:
    """Store ``segment`` under the id ``seg`` (a merge's) or the next one; its id."""
    conn.execute(
        f"INSERT INTO {segments_table(collection_id)} (seg, docs, salt, terms) VALUES (?, ?, ?, ?)",
        (seg, segment.docs, secrets.randbits(63), segment.terms),
    )
    seg = int(conn.last_insert_rowid())
    conn.executemany(
        f"INSERT INTO {chunks_table(collection_id)} (key, data) VALUES (?, ?)",
        chunks(seg, segment),
    )
    return seg


class Tombstones:
    """The tombstones of a collection, sorted by item, to tell live postings from dead."""

    __slots__ = ("before", "items")

    def __init__(self, items: I64, before: I64) -> None:
        self.items = items
        self.before = before

    @classmethod
    def read(cls, conn: apsw.Connection, collection_id: int) -> Tombstones:
        rows = conn.execute(
            f"SELECT item, before FROM {tombstones_table(collection_id)} ORDER BY item"
        ).fetchall()
        arr = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return cls(np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1]))

    def __len__(self) -> int:
        return len(self.items)

    def live(self, items: I64, segs: I64) -> npt.NDArray[np.bool_]:
        """Which of these postings (item, segment it is in) are live."""
        if not len(self.items) or not len(items):
            return np.ones(len(items), dtype=bool)
        at = np.minimum(np.searchsorted(self.items, items), len(self.items) - 1)
        dead: npt.NDArray[np.bool_] = (self.items[at] == items) & (self.before[at] > segs)
        return ~dead


def _tier(docs: int) -> int:
    return segment_tier(docs, MERGE_FACTOR)


def merge_if_needed(conn: apsw.Connection, collection_id: int) -> None:
    """Merge any size tier that holds ``MERGE_FACTOR`` segments, until none does."""
    while True:
        tiers: dict[int, list[int]] = defaultdict(list)
        for seg, docs in conn.execute(
            f"SELECT seg, docs FROM {segments_table(collection_id)} ORDER BY seg"
        ):
            tiers[_tier(int(cast(int, docs)))].append(int(cast(int, seg)))
        full = [segs for segs in tiers.values() if len(segs) >= MERGE_FACTOR]
        if not full:
            return
        _merge(conn, collection_id, full[0])


def compact_if_needed(conn: apsw.Connection, collection_id: int) -> None:
    """Merge every segment into one when the tombstones exceed their share."""
    row = conn.execute(
        f"SELECT (SELECT count(*) FROM {tombstones_table(collection_id)}), "
        f"(SELECT coalesce(sum(docs), 0) FROM {segments_table(collection_id)})"
    ).fetchone()
    dead, docs = (int(cast(int, v)) for v in row) if row else (0, 0)
    if dead > _TOMBSTONES_FLOOR + docs * _TOMBSTONES_SHARE:
        segs = [
            int(cast(int, r[0]))
            for r in conn.execute(f"SELECT seg FROM {segments_table(collection_id)}")
        ]
        if segs:
            _merge(conn, collection_id, segs)
        else:  # tombstones an older version wrote for texts without a term: none is needed
            _drop_unneeded_tombstones(conn, collection_id)


def _merge(conn: apsw.Connection, collection_id: int, segs: list[int]) -> None:
    """Replace the segments ``segs`` by one holding their live postings, under the highest
    of their ids (see the module's docstring)."""
    segments, postings = segments_table(collection_id), chunks_table(collection_id)
    dead = Tombstones.read(conn, collection_id)
    parts: list[Part] = []
    for seg in segs:
        row = conn.execute(f"SELECT terms, docs FROM {segments} WHERE seg = ?", (seg,)).fetchone()
        assert row is not None  # the caller read ``segs`` in this transaction
        dictionary = Dictionary(cast(bytes, row[0]))
        records = dictionary.records.unpack(
            b"".join(
                cast(bytes, r[0])
                for r in conn.execute(
                    f"SELECT data FROM {postings} WHERE key BETWEEN ? AND ? ORDER BY key",
                    segment_keys(seg),
                )
            )
        )
        counts = dictionary.counts()
        docs: int | None = int(cast(int, row[1]))
        keep = dead.live(records["item"], np.full(len(records), seg, dtype=np.int64))
        if not keep.all():
            kept_ids = dictionary.term_ids()[keep]
            counts = np.bincount(kept_ids, minlength=len(dictionary)).astype(np.int64)
            records = records[keep]
            docs = None
        parts.append(Part(dictionary.vocabulary(), counts, records, docs))
        conn.execute(f"DELETE FROM {segments} WHERE seg = ?", (seg,))
        conn.execute(f"DELETE FROM {postings} WHERE key BETWEEN ? AND ?", segment_keys(seg))
    merged = merge(parts)
    if len(merged.postings):
        write_segment(conn, collection_id, merged, max(segs))
    _drop_unneeded_tombstones(conn, collection_id, clean=max(segs))


def _drop_unneeded_tombstones(
    conn: apsw.Connection, collection_id: int, clean: int | None = None
) -> None:
    """A tombstone only matters to segments older than its ``before`` that may hold a dead
    posting: not to ``clean``, a merge's segment, which holds none of the tombstones' dead
    postings (the merge dropped them) and may hold an item's live ones, newer than its
    tombstone (the merge kept them)."""
    row = conn.execute(
        f"SELECT min(seg) FROM {segments_table(collection_id)} WHERE seg IS NOT ?", (clean,)
    ).fetchone()
    oldest = row[0] if row else None
    if oldest is None:
        conn.execute(f"DELETE FROM {tombstones_table(collection_id)}")
    else:
        conn.execute(
            f"DELETE FROM {tombstones_table(collection_id)} WHERE before <= ?", (int(oldest),)
        )
