"""The embedded backend's text postings as immutable segments (``textindex``, schema 4):
merges happen and keep BM25 exact across many small writes, tombstones and SQLite's rowid
reuse are handled, and a failing batch leaves segments and tombstones as they were.

Every comparison is against ``reference_text.bm25`` over the texts the store should hold.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import apsw
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nighdb
from nighdb import Collection, NighError
from nighdb.backends.sqlite import textdictionaries, textmerges, textsegments
from nighdb.backends.sqlite.schema import SCHEMA_VERSION

from .reference_text import bm25

T, C = "t", "docs"
WORDS = ["red", "fox", "dog", "blue", "cat", "owl", "sea", "sky", "sun", "tree", "rock", "leaf"]
QUERIES = ["red fox", "dog", "blue sky sun", "owl tree", "leaf rock cat sea"]


def _check(store: nighdb.Store, texts: dict[str, str]) -> None:
    for query in QUERIES:
        got = store.search(T, C, text=query, limit=1000)
        want = bm25(texts, query, lambda _: True)
        assert [m.id for m in got] == [i for i, _ in want], query
        assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
    odd = {i for i in texts if int(i[1:]) % 2}
    got = store.search(T, C, text="red dog sky", filter={"odd": True}, limit=1000)
    want = bm25(texts, "red dog sky", lambda i: i in odd)
    assert [m.id for m in got] == [i for i, _ in want]
    assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)


def _docs(texts: dict[str, str]) -> list[dict[str, object]]:
    return [
        {"id": i, "vector": [1.0, 0.5], "text": t, "metadata": {"odd": bool(int(i[1:]) % 2)}}
        for i, t in texts.items()
    ]


def _item(rng: np.random.Generator, n: int) -> tuple[str, str]:
    words = rng.choice(WORDS, size=int(rng.integers(0, 6)))
    return f"d{n}", " ".join(words)


def _rows(conn: apsw.Connection, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(sql)]


def test_many_small_writes_merge_and_stay_exact(tmp_path: Path) -> None:
    """Single-item and small batches (a segment each) with upserts over existing ids,
    text updates and deletes: the segment count stays logarithmic, tombstones are dropped
    by merges, and every search equals the reference after every round."""
    path = tmp_path / "s.db"
    rng = np.random.default_rng(3)
    texts: dict[str, str] = {}
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))

        def upsert(items: list[tuple[str, str]]) -> None:
            store.upsert(
                T,
                C,
                [
                    {
                        "id": i,
                        "vector": [1.0, 0.5],
                        "text": t,
                        "metadata": {"odd": bool(int(i[1:]) % 2)},
                    }
                    for i, t in items
                ],
            )
            texts.update(items)

        for round_ in range(12):
            for _ in range(10):  # new items, one per write: one segment each
                upsert([_item(rng, len(texts) + 1000 * round_)])
            upsert([_item(rng, int(rng.integers(0, 10_000))) for _ in range(5)])
            existing = sorted(texts)
            replaced = [(i, _item(rng, 0)[1]) for i in rng.choice(existing, 3, replace=False)]
            upsert(replaced)  # tombstones for the old postings
            patched = str(rng.choice(existing))
            text = _item(rng, 0)[1]
            store.update(T, C, [{"id": patched, "text": text}])
            texts[patched] = text
            gone = [str(i) for i in rng.choice(sorted(texts), 2, replace=False)]
            store.delete(T, C, gone)
            for i in gone:
                del texts[i]
            _check(store, texts)
    conn = apsw.Connection(str(path))
    segments = _rows(conn, "SELECT seg, docs FROM nigh_textseg_1")
    # ~180 writes made a segment each; merges leave at most F per tier.
    tiers = math.ceil(math.log(len(texts) + 1, textmerges.MERGE_FACTOR)) + 1
    assert len(segments) < textmerges.MERGE_FACTOR * tiers
    # AUTOINCREMENT's counter shows how many were written (a merge reuses an input's id):
    # one per write with a text, ~130.
    written = _rows(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'nigh_textseg_1'")
    assert int(str(written[0][0])) > 100
    # Tombstones only for segments still older than them, so fewer than the ~70 removals.
    dead = _rows(conn, "SELECT item, before FROM nigh_textdead_1")
    oldest = min(int(str(seg)) for seg, _ in segments)
    assert all(int(str(before)) > oldest for _, before in dead)
    assert len(dead) < 70
    conn.close()


def test_compaction_drops_every_tombstone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Compaction past 4 tombstones, whatever the item count (the limits made small).
    monkeypatch.setattr(textmerges, "_TOMBSTONES_FLOOR", 4)
    monkeypatch.setattr(textmerges, "_TOMBSTONES_SHARE", 0.0)
    path = tmp_path / "c.db"
    texts = {f"d{i}": f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]}" for i in range(40)}
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))
        items = [
            {"id": i, "vector": [1.0, 0.0], "text": t, "metadata": {"odd": bool(int(i[1:]) % 2)}}
            for i, t in texts.items()
        ]
        for start in range(0, 40, 10):
            store.upsert(T, C, items[start : start + 10])
        conn = apsw.Connection(str(path))
        assert len(_rows(conn, "SELECT seg FROM nigh_textseg_1")) == 4
        store.delete(T, C, ["d1", "d2", "d3"])  # 3 tombstones: under the floor
        assert len(_rows(conn, "SELECT item FROM nigh_textdead_1")) == 3
        for i in ("d1", "d2", "d3"):
            del texts[i]
        _check(store, texts)
        store.delete(T, C, ["d11", "d22"])  # 5 > 4: every segment merged into one
        for i in ("d11", "d22"):
            del texts[i]
        assert _rows(conn, "SELECT item FROM nigh_textdead_1") == []
        segments = _rows(conn, "SELECT seg, docs FROM nigh_textseg_1")
        assert len(segments) == 1 and segments[0][1] == len(texts)
        _check(store, texts)
        conn.close()


def test_reused_rowid_keeps_its_new_postings(tmp_path: Path) -> None:
    """SQLite gives a deleted last row's rowid to the next insert: the tombstone of the old
    item must not hide the new one's postings (they are in a newer segment)."""
    path = tmp_path / "r.db"
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))
        texts = {"d0": "red fox", "d1": "blue owl", "d2": "red dog"}
        store.upsert(T, C, _docs(texts))
        conn = apsw.Connection(str(path))
        old_rowid = _rows(conn, "SELECT rowid FROM nigh_items_1 WHERE id = 'd2'")
        store.delete(T, C, ["d2"])
        del texts["d2"]
        store.upsert(T, C, _docs({"d3": "sky dog dog"}))
        texts["d3"] = "sky dog dog"
        new_rowid = _rows(conn, "SELECT rowid FROM nigh_items_1 WHERE id = 'd3'")
        assert new_rowid == old_rowid  # the reuse this test is about
        assert [m.id for m in store.search(T, C, text="dog")] == ["d3"]
        assert [m.id for m in store.search(T, C, text="red")] == ["d0"]
        for query in ("dog", "red fox sky", "owl"):
            got = store.search(T, C, text=query)
            want = bm25(texts, query, lambda _: True)
            assert [m.id for m in got] == [i for i, _ in want]
            assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
        conn.close()


def test_failing_batch_leaves_segments_and_tombstones(tmp_path: Path) -> None:
    """A write that fails after its postings were written (a trigger aborts the segment
    whose dictionary holds a term) rolls back its segment and its tombstones with the items."""
    path = tmp_path / "f.db"
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))
        texts = {f"d{i}": f"{WORDS[i % 12]} {WORDS[(i * 7) % 12]}" for i in range(20)}
        store.upsert(T, C, _docs(texts))
        store.delete(T, C, ["d4"])
        del texts["d4"]
        conn = apsw.Connection(str(path))
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON nigh_textseg_1 WHEN instr(NEW.terms, 'boom') "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
        tables = (
            "nigh_textseg_1",
            "nigh_textpost_1",
            "nigh_textdead_1",
            "nigh_collections",
        )
        before = {t: _rows(conn, f"SELECT * FROM {t}") for t in tables}
        # Replacing d1 tombstones its old postings before the new segment fails.
        with pytest.raises(NighError):
            store.upsert(T, C, _docs({"d1": "boom red"}))
        with pytest.raises(NighError):
            store.update(T, C, [{"id": "d2", "text": "boom"}])
        assert {t: _rows(conn, f"SELECT * FROM {t}") for t in tables} == before
        _check(store, texts)
        conn.close()


def test_dictionary_cache_is_bounded_and_never_changes_a_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queries give the reference's results whether the segments' dictionaries come from the
    cache, are evicted from it (a bound of 6 terms) or are decoded again after ``clear``."""
    path = tmp_path / "d.db"
    texts = {f"d{i}": f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]}" for i in range(30)}
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))
        items = _docs(texts)
        for start in range(0, 30, 3):  # ten segments of a few terms each
            store.upsert(T, C, items[start : start + 3])
        _check(store, texts)  # every dictionary cached now
        textdictionaries.clear()
        monkeypatch.setattr(textdictionaries, "MAX_TERMS", 6)
        _check(store, texts)
        held = textdictionaries._CACHE.terms()
        assert 0 < held <= 6
        _check(store, texts)


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(
        st.dictionaries(
            st.sampled_from(WORDS),
            st.lists(st.tuples(st.integers(0, 60), st.integers(1, 5)), min_size=1, max_size=6),
            max_size=8,
        ),
        max_size=5,
    )
)
def test_merge_keeps_every_record_of_every_term(
    parts: list[dict[str, list[tuple[int, int]]]],
) -> None:
    """``textsegments.merge`` against a plain regrouping: each term's records are those of
    its inputs, in input order; a term left with no record leaves the vocabulary; the item
    count is the distinct items'. Inputs are given as ``Part``s built the way a merge reads
    them (vocabulary sorted, records grouped by term, a count per term, some zero)."""
    inputs: list[textsegments.Part] = []
    for part in parts:
        vocabulary = sorted({*part, "zz"})  # "zz": a term whose records all died
        stored = [(item, tf, 3) for term in vocabulary for item, tf in part.get(term, [])]
        records = np.array(stored, dtype=textsegments.POSTING)
        counts = np.array([len(part.get(t, [])) for t in vocabulary], dtype=np.int64)
        inputs.append(textsegments.Part(vocabulary, counts, records))
    merged = textsegments.merge(inputs)
    dictionary = textsegments.Dictionary(merged.terms)
    got = dictionary.records.unpack(merged.postings)
    regrouped = {t: [r for part in parts for r in part.get(t, [])] for t in WORDS}
    want = {t: rows for t, rows in regrouped.items() if rows}
    assert dictionary.vocabulary() == sorted(want)
    for term, rows in want.items():
        found = dictionary.find(term)
        assert found is not None
        start, n = found
        run = got[start : start + n]
        assert [(int(r["item"]), int(r["tf"])) for r in run] == rows
    assert dictionary.find("zz") is None and dictionary.find("absent") is None
    assert merged.docs == len(
        {item for part in parts for term_rows in part.values() for item, _ in term_rows}
    )


def test_merge_adds_the_parts_item_counts_when_each_knows_its_own() -> None:
    """Parts that know their item count (no posting of theirs died) are counted by adding
    those counts; one that does not know makes the merge count the distinct items."""
    records = np.array([(1, 1, 2), (2, 1, 2), (1, 1, 2)], dtype=textsegments.POSTING)
    a = textsegments.Part(["fox", "red"], np.array([2, 1]), records, docs=2)
    b = textsegments.Part(["fox"], np.array([1]), records[:1].copy(), docs=None)
    shifted = records.copy()
    shifted["item"] += 10
    c = textsegments.Part(["fox", "red"], np.array([2, 1]), shifted, docs=2)
    assert textsegments.merge([a, c]).docs == 4
    assert textsegments.merge([a, b]).docs == 2  # item 1 is in both: counted once


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(1, 2**63 - 1), st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1)),
        max_size=40,
    ),
    span=st.sampled_from([2**8, 2**16, 2**32, 2**63 - 1]),
)
def test_records_round_trip_in_the_fewest_bytes(
    rows: list[tuple[int, int, int]], span: int
) -> None:
    """A segment's records come back exactly as written, each field stored in the fewest
    bytes of 1, 2, 4 or 8 that hold its largest value (the item as an offset)."""
    rows = [(item % span + 1, tf, length) for item, tf, length in rows]
    records = np.array(rows, dtype=textsegments.POSTING)
    stored = textsegments.Records.fitting(records)
    back = stored.unpack(stored.pack(records))
    assert back.tolist() == records.tolist()
    assert back.dtype == textsegments.POSTING
    if rows:
        items = [r[0] for r in rows]
        fields = stored.stored.fields
        assert fields is not None
        widths = [fields[f][0].itemsize for f in ("item", "tf", "length")]
        for width, largest in zip(
            widths,
            (max(items) - min(items), max(r[1] for r in rows), max(r[2] for r in rows)),
            strict=True,
        ):
            assert largest < 2 ** (8 * width) and (width == 1 or largest >= 2 ** (4 * width))


def _to_format_1(path: Path) -> int:
    """Rewrite every segment of collection 1 as schema 5 wrote it (format 1: no header,
    16-byte records, 252 to a chunk) and set the file's version back to 5; the number of
    segments rewritten."""
    conn = apsw.Connection(str(path))
    with conn:
        segments = conn.execute("SELECT seg, terms FROM nigh_textseg_1").fetchall()
        for seg, blob in segments:
            dictionary = textsegments.Dictionary(cast(bytes, blob))
            lo, hi = textsegments.segment_keys(int(cast(int, seg)))
            data = b"".join(
                cast(bytes, r[0])
                for r in conn.execute(
                    "SELECT data FROM nigh_textpost_1 WHERE key BETWEEN ? AND ? ORDER BY key",
                    (lo, hi),
                )
            )
            records = dictionary.records.unpack(data).astype(textsegments.POSTING).tobytes()
            vocabulary = dictionary.vocabulary()
            terms = (
                np.array([len(vocabulary)], dtype="<i4").tobytes()
                + dictionary.starts().astype("<i4").tobytes()
                + "\0".join(vocabulary).encode()
            )
            conn.execute("DELETE FROM nigh_textpost_1 WHERE key BETWEEN ? AND ?", (lo, hi))
            conn.executemany(
                "INSERT INTO nigh_textpost_1 (key, data) VALUES (?, ?)",
                [
                    (lo + i, records[at : at + 4032])
                    for i, at in enumerate(range(0, len(records), 4032))
                ],
            )
            conn.execute("UPDATE nigh_textseg_1 SET terms = ? WHERE seg = ?", (terms, seg))
        conn.execute("UPDATE nigh_meta SET value = '5' WHERE key = 'schema_version'")
    conn.close()
    return len(segments)


def test_format_1_segments_are_read_and_merged_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version-5 file's segments (format 1) are not rewritten by the upgrade to version 6:
    they are searched as they are, merged with format 2 segments, and every search equals
    the reference throughout. Its segments span several chunks (over 252 records each)."""
    path = tmp_path / "f1.db"
    rng = np.random.default_rng(11)
    texts = dict(_item(rng, n) for n in range(900))
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))
        for start in range(0, 900, 300):
            store.upsert(T, C, _docs(dict(list(texts.items())[start : start + 300])))
    assert _to_format_1(path) == 3
    textdictionaries.clear()
    with nighdb.open_store(f"sqlite:///{path}") as store:
        _check(store, texts)
        conn = apsw.Connection(str(path))
        version = _rows(conn, "SELECT value FROM nigh_meta WHERE key = 'schema_version'")
        assert version == [(str(SCHEMA_VERSION),)]
        legacy = [
            textsegments.Dictionary(cast(bytes, r[0])).records.size
            for r in conn.execute("SELECT terms FROM nigh_textseg_1")
        ]
        assert legacy == [16, 16, 16]
        # New segments are format 2; merges take both formats in and write format 2.
        monkeypatch.setattr(textmerges, "MERGE_FACTOR", 2)
        for n in range(900, 960, 20):
            batch = dict(_item(rng, k) for k in range(n, n + 20))
            batch |= dict(_item(rng, k) for k in rng.integers(0, 900, size=5).tolist())
            texts |= batch
            store.upsert(T, C, _docs(batch))
            _check(store, texts)
        sizes = [
            textsegments.Dictionary(cast(bytes, r[0])).records.size
            for r in conn.execute("SELECT terms FROM nigh_textseg_1")
        ]
        assert sizes and max(sizes) < 16
        conn.close()


def test_a_later_segment_format_is_refused_not_misread() -> None:
    """A segment whose header names a format this version does not know (a newer nighdb's)
    is a coded error, never read as format 1 or 2."""
    records = np.array([(5, 1, 2)], dtype=textsegments.POSTING)
    segment = textsegments.encode(["fox"], np.array([0, 1]), records, 1)
    assert textsegments.Dictionary(segment.terms).find("fox") == (0, 1)
    later = np.array([-3], dtype="<i4").tobytes() + segment.terms[4:]
    with pytest.raises(NighError, match="format 3, newer than this version"):
        textsegments.Dictionary(later)


def test_texts_without_terms_get_no_tombstones(tmp_path: Path) -> None:
    """A text with no term ("!!") has no postings: replacing or deleting it writes no
    tombstone, while one with terms does."""
    path = tmp_path / "n.db"
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))
        texts = {f"d{i}": "!! 👍" for i in range(10)} | {"d10": "red fox"}
        store.upsert(T, C, _docs(texts))
        replaced = {f"d{i}": "cat" for i in range(3)} | {"d10": "blue owl"}
        store.upsert(T, C, _docs(replaced))
        store.delete(T, C, [f"d{i}" for i in range(3, 10)])
        conn = apsw.Connection(str(path))
        assert len(_rows(conn, "SELECT item FROM nigh_textdead_1")) == 1  # d10's old text
        conn.close()
        _check(store, replaced)
