"""The embedded backend's postings at every field width (format 2, ``textsegments``): each
field of a posting is stored in 1, 2, 4 or 8 bytes, so a record takes 3 to 16 bytes and a
chunk holds ``4032 // size`` of them. For every combination of widths, a real store file
holds a segment whose widths are those, each field's largest value the smallest or largest
its width holds (the item offset set by a row moved to a large rowid, up to 2^63 - 1; the
term frequency and length by one item's words repeated up to 65,536 times), with a term's
range ending exactly at a chunk's end and another's crossing the next one; every term's
search equals ``reference_text.bm25``, before and after a compaction rewrites the
segment."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import cast

import apsw
import pytest

import nighdb
from nighdb import Collection
from nighdb.backends.sqlite import textmerges, textsegments

from .reference_text import bm25, reference_tokens

T = "t"
N_ITEMS = 200  # laid out by ``_counts``; the batch adds the item "wide"
# The item offset's width and the batch's largest offset (its smallest rowid is 1).
OFFSETS = {"1": (1, 255), "2": (2, 256), "4": (4, 2**16), "8": (8, 2**32), "top": (8, 2**63 - 2)}
# Per (tf width, length width): the text of the item "wide", whose largest tf and length
# are the batch's: 255, 256 and 65,536 (257 words 255 times each are 65,535).
MANY_WORDS = " ".join(f"zz{k:03d} " * 255 for k in range(257))
WIDENERS = {
    (1, 1): "zz " * 255,
    (1, 2): "zza " * 128 + "zzb " * 128,
    (1, 4): MANY_WORDS + " zzz",
    (2, 2): "zz " * 256,
    (2, 4): "zz " * 256 + " ".join(f"zz{k:03d} " * 255 for k in range(256)),
    (4, 4): "zz " * 2**16,
}


@functools.cache
def _tokens(text: str) -> list[str]:
    return reference_tokens(text)


def _counts(per_chunk: int) -> list[int]:
    """Postings per term (each term in the first ``count`` items): the first chunk's last
    term ends exactly at its end, and a term crosses the second chunk's end."""
    counts: list[int] = []
    for k in itertools.count():
        if sum(counts) + N_ITEMS < per_chunk:
            counts.append(N_ITEMS - k % 7)
        else:
            break
    counts.append(per_chunk - sum(counts))  # ends at the first chunk's end
    while 2 * per_chunk - sum(counts) >= N_ITEMS:
        counts.append(N_ITEMS - len(counts) % 5)
    counts.append(N_ITEMS)  # starts before the second chunk's end, ends after it
    return [*counts, 1]


def _check(store: nighdb.Store, name: str, texts: dict[str, str], queries: list[str]) -> None:
    for query in queries:
        got = store.search(T, name, text=query, limit=len(texts))
        want = dict(bm25(texts, query, lambda _: True, _tokens))
        assert sorted(m.id for m in got) == sorted(want), query
        assert [m.score for m in got] == pytest.approx([want[m.id] for m in got], rel=1e-9)


def _collection_id(conn: apsw.Connection, name: str) -> int:
    row = conn.execute(
        "SELECT id FROM nigh_collections WHERE tenant = ? AND name = ?", (T, name)
    ).fetchone()
    assert row is not None
    return int(cast(int, row[0]))


def _widths(conn: apsw.Connection, name: str) -> list[tuple[int, ...]]:
    """(item, tf, length) widths of each segment of collection ``name``, and its size."""
    out = []
    for (blob,) in conn.execute(f"SELECT terms FROM nigh_textseg_{_collection_id(conn, name)}"):
        stored = textsegments.Dictionary(cast(bytes, blob)).records.stored
        fields = stored.fields
        assert fields is not None
        out.append(tuple(fields[f][0].itemsize for f in ("item", "tf", "length")))
    return out


@pytest.mark.parametrize("offset", sorted(OFFSETS))
def test_every_width_and_chunk_edge_reads_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offset: str
) -> None:
    item_width, largest = OFFSETS[offset]
    # A delete compacts every segment into one (the limits made small).
    monkeypatch.setattr(textmerges, "_TOMBSTONES_FLOOR", 0)
    monkeypatch.setattr(textmerges, "_TOMBSTONES_SHARE", 0.0)
    path = tmp_path / "w.db"
    with nighdb.open_store(f"sqlite:///{path}") as store:
        conn = apsw.Connection(str(path))
        for (tf_width, length_width), widener in WIDENERS.items():
            name = f"w{tf_width}{length_width}"
            store.ensure_collection(T, Collection(name, 2))
            store.upsert(T, name, [{"id": i, "vector": [1.0, 0.0]} for i in ("low", "pad")])
            # The batch's new rows follow "pad" (rowids 2 to 200 now): its last, "wide", gets
            # the rowid 1 + largest.
            items = f"nigh_items_{_collection_id(conn, name)}"
            gap = largest + 1 - N_ITEMS
            conn.execute(f"UPDATE {items} SET rowid = ? WHERE id = 'pad'", (gap,))
            per_chunk = 4032 // (item_width + tf_width + length_width)
            counts = _counts(per_chunk)
            words = [f"t{k:03d}" for k in range(len(counts))]
            ids = ["low", *(f"d{j:03d}" for j in range(1, N_ITEMS))]
            texts = {
                item_id: " ".join(w for w, c in zip(words, counts, strict=True) if j < c)
                for j, item_id in enumerate(ids)
            }
            texts["wide"] = widener
            ids.append("wide")
            store.upsert(T, name, [{"id": i, "vector": [1.0, 0.0], "text": texts[i]} for i in ids])
            assert conn.execute(f"SELECT max(rowid) FROM {items}").fetchone() == (largest + 1,)
            texts["pad"] = ""
            assert _widths(conn, name) == [(item_width, tf_width, length_width)]
            # The file's format: whole chunks of 4032 // size records, the rest in the last.
            size = item_width + tf_width + length_width
            chunks = [
                len(cast(bytes, data))
                for (data,) in conn.execute(
                    f"SELECT data FROM nigh_textpost_{_collection_id(conn, name)} ORDER BY key"
                )
            ]
            total = (sum(counts) + len(set(_tokens(widener)))) * size
            assert chunks[:-1] == [per_chunk * size] * (len(chunks) - 1)
            assert sum(chunks) == total and 0 < chunks[-1] <= per_chunk * size
            starts = list(itertools.accumulate(counts))
            assert per_chunk in starts  # a range ends at a chunk's end
            assert any(a < 2 * per_chunk < b for a, b in itertools.pairwise(starts))
            queries = [*words, "zz zza zzb zz000 zz256 zzz", "t000 t001 zz " + words[-1]]
            _check(store, name, texts, queries)
            store.delete(T, name, ["d002"])  # the compaction writes the segment anew
            del texts["d002"]
            assert _widths(conn, name) == [(item_width, tf_width, length_width)]
            _check(store, name, texts, queries)
        conn.close()
