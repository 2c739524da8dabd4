"""The pgvector backend's text postings as written: segments (``textsegments``), one row per
(term, segment) with the postings as arrays, tombstones, merges and compactions
(``textmerges``). ``textsegments.analyze_new`` builds a segment's binary ``COPY`` stream
itself, and ``upsert`` computes it while the server merges the items (``write._overlapped``,
a pipeline). These tests decode the stream against ``analyze`` of each text alone, read the
live postings back after every write path (and the physical rows after merges: dead
postings dropped, tombstones collected), and check that a failure while the merge runs
leaves nothing written and the connection usable.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from nighdb import Collection
from nighdb.backends.postgres import PostgresStore, postings, textmerges, textsegments
from nighdb.backends.postgres import write as postgres_write
from nighdb.text import analyze

from .pg_server import postgres_store, url_for
from .reference_text import bm25

T = "tenant"
Posting = tuple[bytes, str, int, int]  # term key, id, tf, length

_WORDS = st.sampled_from(["Cats", "cat", "the", "running", "école", "ﬁle", "x_1", "2", "日本"])
_TEXTS = st.one_of(st.lists(_WORDS, max_size=10).map(" ".join), st.text(max_size=20))
# Ids of many byte lengths, multi-byte ones among them.
_IDS = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=6)


def _field(payload: bytes, at: int) -> tuple[bytes, int]:
    (size,) = struct.unpack_from(">i", payload, at)
    return payload[at + 4 : at + 4 + size], at + 4 + max(size, 0)


def _is_null(payload: bytes, at: int) -> bool:
    size: int = struct.unpack_from(">i", payload, at)[0]
    return size == -1


def _array(data: bytes, element_type: int) -> list[bytes]:
    """The elements of a one-dimensional binary array without nulls."""
    dims, nulls, oid, size, lower = struct.unpack_from(">5i", data, 0)
    assert (dims, nulls, oid, lower) == (1, 0, element_type, 1)
    elements, at = [], 20
    for _ in range(size):
        element, at = _field(data, at)
        elements.append(element)
    assert at == len(data)
    return elements


def _decoded(
    payload: bytes, shared_below: int = textsegments.SHARED_BELOW
) -> tuple[list[bytes], set[int], list[Posting]]:
    """A segment's binary COPY stream of ``textsegments.COLUMNS``: the rows' keys in order,
    their segment ids, and every posting (with its term's key, from a shared row's
    ``terms``). A term's own row holds ``shared_below`` postings or more; the terms of a
    bucket's row fewer each, all of that bucket."""
    assert payload[:11] == b"PGCOPY\n\xff\r\n\x00" and payload[11:19] == bytes(8)
    keys: list[bytes] = []
    segs: set[int] = set()
    found: list[Posting] = []
    at = 19
    while (count := struct.unpack_from(">h", payload, at)[0]) != -1:
        assert count == 6
        at += 2
        fields = []
        for _ in range(5):
            field, at = _field(payload, at)
            fields.append(field)
        shared = not _is_null(payload, at)
        terms, at = _field(payload, at)
        key = fields[0]
        keys.append(key)
        segs.add(struct.unpack(">q", fields[1])[0])
        items = [i.decode() for i in _array(fields[2], 25)]
        tfs = [struct.unpack(">i", v)[0] for v in _array(fields[3], 23)]
        lengths = [struct.unpack(">i", v)[0] for v in _array(fields[4], 23)]
        assert len(items) == len(tfs) == len(lengths) > 0
        if shared:
            assert len(key) == 2 and len(terms) == 16 * len(items)
            term_keys = [terms[i : i + 16] for i in range(0, len(terms), 16)]
            assert term_keys == sorted(term_keys)  # a bucket's postings in term order
            assert {textsegments.bucket_key(k) for k in term_keys} == {key}
            assert max(Counter(term_keys).values()) < shared_below
        else:
            assert len(key) == 16 and len(items) >= shared_below
            term_keys = [key] * len(items)
        found.extend(zip(term_keys, items, tfs, lengths, strict=True))
    assert at + 2 == len(payload)
    return keys, segs, found


def _expected(items: dict[str, str], analyzer: str) -> tuple[list[Posting], int]:
    found: list[Posting] = []
    total = 0
    for item_id, text in items.items():
        analyzed = analyze(text, analyzer)
        total += analyzed.length
        found.extend(
            (postings.term_key(term), item_id, tf, analyzed.length)
            for term, tf in analyzed.terms.items()
        )
    return found, total


@pytest.mark.parametrize("shared_below", [1, 2, 4, 1000])
@pytest.mark.parametrize("block_rows", [4096, 3])
@pytest.mark.parametrize("analyzer", ["plain", "english"])
@settings(max_examples=100, deadline=None)
@given(items=st.dictionaries(_IDS, _TEXTS, max_size=12), seg=st.integers(1, 2**62))
def test_the_copy_stream_holds_each_texts_postings_in_rows_in_key_order(
    analyzer: str, block_rows: int, shared_below: int, items: dict[str, str], seg: int
) -> None:
    """A row per term or per bucket (no term shares a row at 1, every one at 1000), in
    blocks of 3 rows too: a stream of many blocks, as a large batch's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(textsegments, "_BLOCK_ROWS", block_rows)
        patch.setattr(textsegments, "SHARED_BELOW", shared_below)
        new = postings.analyze_new(analyzer, items.items(), seg)
    keys, segs, got = _decoded(new.payload, shared_below)
    expected, total = _expected(items, analyzer)
    assert sorted(got) == sorted(expected)
    assert keys == sorted(set(keys))  # one row per key, in the primary key's order
    assert segs <= {seg} and new.seg == seg
    assert len(new) == len(keys) and new.total_length == total
    assert new.docs == len([i for i, t in items.items() if t])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with postgres_store(tmp_path) as s:
        yield s


def _collection_id(conn: psycopg.Connection[Any]) -> int:
    return int(conn.execute("SELECT id FROM nigh_collections").fetchall()[0][0])


def _live(url: str) -> tuple[list[Posting], int, int]:
    """The collection's live postings (no tombstone covers them) and its
    (text_items, text_length)."""
    with psycopg.connect(url) as conn:
        cid = _collection_id(conn)
        rows = conn.execute(
            sql.SQL(
                "SELECT coalesce(substring(p.terms FROM 16 * u.n::integer - 15 FOR 16),"
                " p.term_hash), u.item, u.tf, u.length FROM {} AS p,"
                " unnest(p.items, p.tfs, p.lengths) WITH ORDINALITY AS u(item, tf, length, n)"
                " WHERE NOT EXISTS (SELECT 1 FROM {} AS d"
                " WHERE d.item = u.item AND d.before > p.seg)"
            ).format(sql.Identifier(f"nigh_tpost_{cid}"), sql.Identifier(f"nigh_ttomb_{cid}"))
        ).fetchall()
        stats = conn.execute(
            "SELECT text_items, text_length FROM nigh_collections WHERE id = %s", (cid,)
        ).fetchone()
    assert stats is not None
    return [(bytes(r[0]), r[1], r[2], r[3]) for r in rows], stats[0], stats[1]


def _physical(url: str) -> tuple[int, list[tuple[int, int]], int]:
    """Postings stored (live or dead), the segments' (id, docs), the tombstones' count."""
    with psycopg.connect(url) as conn:
        cid = _collection_id(conn)
        stored = conn.execute(
            sql.SQL("SELECT coalesce(sum(cardinality(items)), 0) FROM {}").format(
                sql.Identifier(f"nigh_tpost_{cid}")
            )
        ).fetchone()
        segments = conn.execute(
            sql.SQL("SELECT seg, docs FROM {} ORDER BY seg").format(
                sql.Identifier(f"nigh_tsegs_{cid}")
            )
        ).fetchall()
        tombstones = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"nigh_ttomb_{cid}"))
        ).fetchone()
    assert stored is not None and tombstones is not None
    return int(stored[0]), [(int(s), int(d)) for s, d in segments], int(tombstones[0])


def _items(texts: dict[str, str]) -> list[dict[str, Any]]:
    return [{"id": i, "vector": [1.0, 0.0], "text": t} for i, t in texts.items()]


def _assert_exact(url: str, texts: dict[str, str]) -> None:
    live, n_items, total_length = _live(url)
    expected, total = _expected(texts, "plain")
    assert sorted(live) == sorted(expected)
    assert (n_items, total_length) == (len(texts), total)


@pytest.mark.parametrize("path", ["unnest", "copy"])
def test_the_live_postings_are_exact_after_every_write(
    store: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "copy":
        monkeypatch.setattr(postgres_write, "COPY_THRESHOLD", 0)
    url = url_for(tmp_path)
    store.ensure_collection(T, Collection("c", 2))
    texts = {
        f"{'é' * (k % 4)}{'x' * (k % 3)}{k}": f"cat dog {'cat ' * (k % 5)} w{k % 7} é{k % 2}"
        for k in range(60)
    }
    texts["empty"] = ""
    store.upsert(T, "c", _items(texts))
    # Replace some texts (one more than once in a batch: the last wins), then update one.
    changed = {i: f"bee {i}" for i in list(texts)[::5]}
    store.upsert(T, "c", [*_items({"1": "first"}), *_items(changed), *_items({"1": "ant ant"})])
    texts |= changed | {"1": "ant ant"}
    store.update(T, "c", [{"id": "0", "text": "eel eel eel"}])
    texts["0"] = "eel eel eel"
    _assert_exact(url, texts)
    deleted = list(texts)[1:3]
    store.delete(T, "c", deleted)
    for i in deleted:
        del texts[i]
    _assert_exact(url, texts)
    # The replaced and deleted items' old postings are still stored, covered by tombstones:
    # one per item that had a text ("0" was replaced, then updated).
    stored, segments, tombstones = _physical(url)
    replaced = {i for i in changed if i != "empty"} | {"0"} | set(deleted)
    assert stored > len(_live(url)[0]) and tombstones == len(replaced)
    assert [s for s, _ in segments] == [1, 2, 3]


def test_a_full_tier_is_merged_into_one_segment_with_a_new_id(
    store: PostgresStore, tmp_path: Path
) -> None:
    url = url_for(tmp_path)
    store.ensure_collection(T, Collection("c", 2))
    texts: dict[str, str] = {}
    for k in range(textsegments.MERGE_FACTOR - 1):  # tier 0: segments of one item
        texts[f"i{k}"] = f"cat w{k}"
        store.upsert(T, "c", _items({f"i{k}": texts[f"i{k}"]}))
    assert [s for s, _ in _physical(url)[1]] == list(range(1, textsegments.MERGE_FACTOR))
    # Replace one item: its old posting is dead; the merge that this write triggers drops it.
    texts["i0"] = "dog"
    store.upsert(T, "c", _items({"i0": "dog"}))
    stored, segments, tombstones = _physical(url)
    merged = textsegments.MERGE_FACTOR + 1
    assert segments == [(merged, textsegments.MERGE_FACTOR)]
    assert stored == len(_live(url)[0]) and tombstones == 0
    _assert_exact(url, texts)
    got = store.search(T, "c", text="cat dog")
    want = bm25(texts, "cat dog", lambda _: True)
    assert [m.id for m in got] == [i for i, _ in want]
    assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
    # A later write's tombstone applies to the merged segment.
    store.upsert(T, "c", _items({"i1": "eel"}))
    texts["i1"] = "eel"
    _assert_exact(url, texts)


def test_tombstones_past_their_share_compact_every_segment_into_one(
    store: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(textmerges, "_TOMBSTONES_FLOOR", 2)
    url = url_for(tmp_path)
    store.ensure_collection(T, Collection("c", 2))
    texts = {f"i{k}": f"cat w{k % 3}" for k in range(40)}
    store.upsert(T, "c", _items(dict(list(texts.items())[:20])))
    store.upsert(T, "c", _items(dict(list(texts.items())[20:])))
    store.delete(T, "c", ["i0", "i1"])  # two tombstones: not past 2 + 40 / 16
    del texts["i0"], texts["i1"]
    assert _physical(url)[2] == 2 and len(_physical(url)[1]) == 2
    store.delete(T, "c", ["i2", "i3", "i4", "i5"])  # six: past 2 + 34 / 16
    for k in range(2, 6):
        del texts[f"i{k}"]
    stored, segments, tombstones = _physical(url)
    assert len(segments) == 1 and segments[0][0] == 3 and tombstones == 0
    assert stored == len(_live(url)[0])
    _assert_exact(url, texts)


def test_texts_without_terms_get_no_tombstones(store: PostgresStore, tmp_path: Path) -> None:
    """Texts with no term ("!!") have no postings, so replacing or deleting them writes no
    tombstone (they used to: harmless, but compaction came sooner)."""
    url = url_for(tmp_path)
    store.ensure_collection(T, Collection("c", 2))
    texts = {f"i{k}": "!! 👍" for k in range(10)}
    store.upsert(T, "c", _items(texts))
    store.upsert(T, "c", _items({f"i{k}": "cat" for k in range(3)}))
    assert store.delete(T, "c", [f"i{k}" for k in range(3, 10)]) == 7
    stored, segments, tombstones = _physical(url)
    assert (stored, len(segments), tombstones) == (3, 1, 0)
    _assert_exact(url, {f"i{k}": "cat" for k in range(3)})


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["upsert", "update", "delete"]),
        st.sets(st.integers(0, 9)),
        _WORDS,
        st.sampled_from([1, 2, 4, 100]),  # SHARED_BELOW: a term's rows own, shared or mixed
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=_OPS)
def test_random_writes_with_eager_merges_keep_the_postings_exact(
    store: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ops: list[Any]
) -> None:
    """Merges of two segments and compactions past one tombstone: every write merges or
    compacts, and the live postings, the statistics and search stay exact, whichever rows,
    a term's own or its bucket's, each segment keeps its postings in."""
    monkeypatch.setattr(textsegments, "MERGE_FACTOR", 2)
    monkeypatch.setattr(textmerges, "MERGE_FACTOR", 2)
    monkeypatch.setattr(textmerges, "_TOMBSTONES_FLOOR", 1)
    url = url_for(tmp_path)
    store.drop_collection(T, "c")
    store.ensure_collection(T, Collection("c", 2))
    texts: dict[str, str] = {}
    for n, (op, keys, word, shared_below) in enumerate(ops):
        monkeypatch.setattr(textsegments, "SHARED_BELOW", shared_below)
        ids = [f"i{k}" for k in sorted(keys)]
        if op == "upsert":
            batch = {f"i{k}": f"{word} w{n} i{k}" if k % 3 else "" for k in sorted(keys)}
            store.upsert(T, "c", _items(batch))
            texts |= batch
        elif op == "update":
            present = [i for i in ids if i in texts]
            store.update(T, "c", [{"id": i, "text": f"{word} {word}"} for i in present])
            texts |= {i: f"{word} {word}" for i in present}
        else:
            if ids:
                store.delete(T, "c", ids)
            for i in ids:
                texts.pop(i, None)
        _assert_exact(url, texts)
        got = store.search(T, "c", text=f"{word} cat w1")
        want = bm25(texts, f"{word} cat w1", lambda _: True)[:10]
        assert [m.id for m in got] == [i for i, _ in want]
        assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)


def test_a_failure_while_the_server_merges_writes_nothing(
    store: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.ensure_collection(T, Collection("c", 2))
    store.upsert(T, "c", _items({"a": "cat"}))

    def broken(analyzer: str, new: object, seg: int) -> postings.NewPostings:
        raise RuntimeError("analysis failed")

    monkeypatch.setattr(postings, "analyze_new", broken)
    with pytest.raises(RuntimeError, match="analysis failed"):
        store.upsert(T, "c", _items({"a": "dog", "b": "dog"}))
    monkeypatch.undo()
    assert store.count(T, "c") == 1
    assert [m.id for m in store.search(T, "c", text="cat")] == ["a"]
    assert store.search(T, "c", text="dog") == []
    # The store's connection is usable afterwards (the pipeline ended, the rollback done).
    store.upsert(T, "c", _items({"b": "dog"}))
    assert [m.id for m in store.search(T, "c", text="dog")] == ["b"]
    _assert_exact(url_for(tmp_path), {"a": "cat", "b": "dog"})


def test_a_dropped_collection_leaves_no_readers(store: PostgresStore, tmp_path: Path) -> None:
    """The collection's readers (``readers``) go with its tables, and a new collection of
    the name gets its own."""
    url = url_for(tmp_path)
    store.ensure_collection(T, Collection("c", 2))
    store.upsert(T, "c", _items({"a": "cat"}))
    readers = (
        "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
        " AND proname LIKE 'nigh\\_t%' ORDER BY 1"
    )
    with psycopg.connect(url) as conn:
        assert conn.execute(readers).fetchall() == [("nigh_tfetch_1",), ("nigh_tread_1",)]
        # One generic plan each: PL/pgSQL otherwise planned every call anew.
        settings = conn.execute(
            "SELECT DISTINCT proconfig FROM pg_proc"
            " WHERE pronamespace = current_schema()::regnamespace AND proname LIKE 'nigh\\_t%'"
        ).fetchall()
        assert settings == [(["plan_cache_mode=force_generic_plan"],)]
    store.drop_collection(T, "c")
    with psycopg.connect(url) as conn:
        assert conn.execute(readers).fetchall() == []
    store.ensure_collection(T, Collection("c", 2))
    store.upsert(T, "c", _items({"b": "cat"}))
    assert [m.id for m in store.search(T, "c", text="cat")] == ["b"]
