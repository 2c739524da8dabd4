"""Random sequences of writes against the embedded backend's text segments (``textindex``),
checked after every step against what the items table says the index must hold.

With merges, compactions and pages made small (a merge factor of 2 or 3, compaction past a
few tombstones, ``update`` indexing two items per segment), a few hundred writes run every
path: upserts of new and existing ids, an id repeated in a batch, texts with no term ("!!",
"👍", ""), updates of the text, deletes by ids and by filter, SQLite reusing a deleted
rowid, and writes that fail after their postings were written (a trigger aborts them) and
must leave the index as it was. After each step:

* the live postings (those no tombstone covers) are exactly the analysis of the stored
  texts, each once, and ``text_length`` is their total length;
* every segment's ``docs`` is the number of distinct items in its records (a merge adds its
  inputs' counts when none of their postings died, which is only right if an item's live
  postings are all in one segment);
* every query equals ``reference_text.bm25`` (ids and scores within 1e-9 relative; tied
  scores may be an ulp apart, so the order is checked as the backend's scores give it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import apsw
import numpy as np
import pytest

import nighdb
from nighdb import Collection, NighError
from nighdb.backends.sqlite import textdictionaries, textindex, textmerges, textsegments
from nighdb.text import analyze

from .reference_text import bm25
from .test_text_segments import _to_format_1

T, C = "t", "c"
WORDS = ["red", "fox", "dog", "blue", "cat", "owl", "sea", "Sky", "sun"]
NO_TERM = ["!!", "👍", "", " - "]
QUERIES = ["red fox", "dog", "blue sky sun", "owl cat", "sea red dog fox blue"]
TEXT_TABLES = ("nigh_textseg_1", "nigh_textpost_1", "nigh_textdead_1", "nigh_collections")

Posting = tuple[str, int, int, int]  # term, item rowid, tf, length


def _text(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(NO_TERM)
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))


def _live_postings(conn: apsw.Connection) -> list[Posting]:
    """Every live posting of collection 1, read from its segments' bytes; checks each
    segment's item count on the way."""
    dead = textmerges.Tombstones.read(conn, 1)
    out: list[Posting] = []
    for raw_seg, docs, terms in conn.execute("SELECT seg, docs, terms FROM nigh_textseg_1"):
        seg = int(cast(int, raw_seg))
        dictionary = textsegments.Dictionary(cast(bytes, terms))
        data = b"".join(
            cast(bytes, r[0])
            for r in conn.execute(
                "SELECT data FROM nigh_textpost_1 WHERE key BETWEEN ? AND ? ORDER BY key",
                textsegments.segment_keys(seg),
            )
        )
        records = dictionary.records.unpack(data)
        assert len(records) == int(dictionary.starts()[-1])
        assert docs == len(set(records["item"].tolist())), f"segment {seg}'s item count"
        live = dead.live(records["item"], np.full(len(records), seg, dtype=np.int64))
        vocabulary = dictionary.vocabulary()
        for term, (item, tf, length), keep in zip(
            dictionary.term_ids().tolist(), records.tolist(), live.tolist(), strict=True
        ):
            if keep:
                out.append((vocabulary[term], item, tf, length))
    return out


def _check(store: nighdb.Store, conn: apsw.Connection, texts: dict[str, str]) -> None:
    stored = {int(r): str(t) for r, t in conn.execute("SELECT rowid, text FROM nigh_items_1")}
    want: list[Posting] = []
    for rowid, text in stored.items():
        analyzed = analyze(text, "plain")
        want.extend((term, rowid, tf, analyzed.length) for term, tf in analyzed.terms.items())
    assert sorted(_live_postings(conn)) == sorted(want)
    row = conn.execute("SELECT text_length FROM nigh_collections WHERE id = 1").fetchone()
    lengths = sum(analyze(text, "plain").length for text in stored.values())
    assert row is not None and row[0] == lengths
    assert store.count(T, C) == len(texts)
    for query in QUERIES:
        got = store.search(T, C, text=query, limit=1000)
        reference = dict(bm25(texts, query, lambda _: True))
        assert sorted(m.id for m in got) == sorted(reference), query
        assert [m.score for m in got] == pytest.approx([reference[m.id] for m in got], rel=1e-9)
        order = [(-m.score, m.id) for m in got]
        assert order == sorted(order), query


def _tables(conn: apsw.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t}")] for t in TEXT_TABLES}


@dataclass
class _Model:
    """What the store should hold: each item's text and group, and the next new id."""

    rng: random.Random
    texts: dict[str, str] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    fresh: int = 0


def _run(path: Path, model: _Model, steps: int) -> None:
    rng, texts, groups, fresh = model.rng, model.texts, model.groups, model.fresh
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))
        conn = apsw.Connection(str(path))
        _check(store, conn, texts)
        for _ in range(steps):
            existing = sorted(texts)
            failing = bool(existing) and rng.random() < 0.1
            if failing:  # the step's write fails at its first chunk of postings
                conn.execute(
                    "CREATE TRIGGER boom BEFORE INSERT ON nigh_textpost_1 "
                    "BEGIN SELECT RAISE(ABORT, 'boom'); END"
                )
            before = _tables(conn)
            new_texts, new_groups = dict(texts), dict(groups)
            try:
                op = rng.random()
                if op < 0.45 or not existing:
                    batch: list[dict[str, object]] = []
                    for _ in range(rng.randint(1, 6)):
                        pick = rng.random()
                        if pick < 0.5 or not existing:
                            item_id, fresh = f"d{fresh}", fresh + 1
                        elif pick < 0.8 or not batch:
                            item_id = rng.choice(existing)
                        else:  # an id repeated in the batch: its last row wins
                            item_id = str(batch[-1]["id"])
                        group = rng.randint(0, 3)
                        text = _text(rng)
                        vector = [rng.random(), rng.random() - 0.5]
                        batch.append(
                            {
                                "id": item_id,
                                "vector": vector,
                                "text": text,
                                "metadata": {"g": group},
                            }
                        )
                        new_texts[item_id], new_groups[item_id] = text, group
                    store.upsert(T, C, batch)
                elif op < 0.65:
                    ids = rng.sample(existing, min(len(existing), rng.randint(1, 3)))
                    patches = [{"id": i, "text": _text(rng)} for i in ids]
                    store.update(T, C, patches)
                    new_texts.update((str(p["id"]), str(p["text"])) for p in patches)
                elif op < 0.85:
                    ids = rng.sample(existing, min(len(existing), rng.randint(1, 3)))
                    store.delete(T, C, ids)
                    for i in ids:
                        del new_texts[i]
                else:
                    group = rng.randint(0, 3)
                    store.delete(T, C, filter={"g": group})
                    for i in [i for i in texts if groups[i] == group]:
                        del new_texts[i]
                texts, groups = new_texts, new_groups
            except NighError:
                assert failing
                assert _tables(conn) == before  # rolled back whole: segments, tombstones
            if failing:
                conn.execute("DROP TRIGGER boom")
            _check(store, conn, texts)
        conn.close()
    model.texts, model.groups, model.fresh = texts, groups, fresh


@pytest.mark.parametrize(
    ("seed", "factor", "floor", "share"),
    [(1, 2, 3, 0.0), (2, 3, 5, 0.1), (3, 2, 10_000, 0.0)],
    ids=["factor-2-compacting", "factor-3", "factor-2-no-compaction"],
)
def test_random_writes_keep_the_postings_exact(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    factor: int,
    floor: int,
    share: float,
) -> None:
    monkeypatch.setattr(textmerges, "MERGE_FACTOR", factor)
    monkeypatch.setattr(textmerges, "_TOMBSTONES_FLOOR", floor)
    monkeypatch.setattr(textmerges, "_TOMBSTONES_SHARE", share)
    monkeypatch.setattr(textindex, "_PAGE", 2)  # update() indexes two items per segment
    _run(tmp_path / "r.db", _Model(random.Random(seed)), 150)


def test_random_writes_over_a_version_5_file_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose segments are all format 1 (version 5's), with tombstones over them,
    takes random writes: tombstones, merges and compactions read format 1 and format 2 side
    by side, and the index stays exact."""
    path = tmp_path / "v5.db"
    model = _Model(random.Random(4))
    monkeypatch.setattr(textmerges, "_TOMBSTONES_FLOOR", 10_000)  # keep the tombstones
    _run(path, model, 60)
    assert _to_format_1(path) > 3
    conn = apsw.Connection(str(path))
    assert len(textmerges.Tombstones.read(conn, 1)) > 10
    conn.close()
    textdictionaries.clear()
    monkeypatch.setattr(textmerges, "MERGE_FACTOR", 2)
    monkeypatch.setattr(textmerges, "_TOMBSTONES_FLOOR", 4)
    monkeypatch.setattr(textmerges, "_TOMBSTONES_SHARE", 0.0)
    _run(path, model, 100)
