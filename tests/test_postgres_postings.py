"""The pgvector backend's text postings as written: ``postings.analyze_new`` builds the binary
``COPY`` stream of a batch's postings itself (sorted by the table's key, in blocks by the
size of an item's fields), and ``upsert`` computes it while the server merges the items
(``write._overlapped``, a pipeline). These tests decode the stream against ``analyze`` of
each text alone, read the table back after every write path, and check that a failure
while the merge runs leaves nothing written and the connection usable.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from nighdb import Collection
from nighdb.backends.postgres import PostgresStore, postings
from nighdb.backends.postgres import write as postgres_write
from nighdb.text import analyze

from .pg_server import postgres_store, url_for

T = "tenant"
Row = tuple[int, int, bytes, bytes, str]  # tf, length, term key, item key, id

_WORDS = st.sampled_from(["Cats", "cat", "the", "running", "école", "ﬁle", "x_1", "2", "日本"])
_TEXTS = st.one_of(st.lists(_WORDS, max_size=10).map(" ".join), st.text(max_size=20))
# Ids of many byte lengths (one block of the stream per length), multi-byte ones among them.
_IDS = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=6)


def _decoded(payload: bytes) -> list[Row]:
    """The rows of a binary COPY stream of ``(tf, length, term_hash, item_hash, item)``."""
    assert payload[:11] == b"PGCOPY\n\xff\r\n\x00" and payload[11:19] == bytes(8)
    rows: list[Row] = []
    at = 19
    while (count := struct.unpack_from(">h", payload, at)[0]) != -1:
        assert count == 5
        at += 2
        fields = []
        for _ in range(5):
            (size,) = struct.unpack_from(">i", payload, at)
            fields.append(payload[at + 4 : at + 4 + size])
            at += 4 + size
        tf, length = (struct.unpack(">i", f)[0] for f in fields[:2])
        rows.append((tf, length, fields[2], fields[3], fields[4].decode()))
    assert at + 2 == len(payload)
    return rows


def _expected(items: dict[str, str], analyzer: str) -> tuple[list[Row], int]:
    rows: list[Row] = []
    total = 0
    for item_id, text in items.items():
        analyzed = analyze(text, analyzer)
        total += analyzed.length
        rows.extend(
            (tf, analyzed.length, postings.term_key(term), postings.item_key(item_id), item_id)
            for term, tf in analyzed.terms.items()
        )
    return rows, total


@pytest.mark.parametrize("analyzer", ["plain", "english"])
@settings(max_examples=200, deadline=None)
@given(items=st.dictionaries(_IDS, _TEXTS, max_size=12))
def test_the_copy_stream_holds_each_texts_postings_in_key_order(
    analyzer: str, items: dict[str, str]
) -> None:
    new = postings.analyze_new(analyzer, items.items())
    got = _decoded(new.payload)
    expected, total = _expected(items, analyzer)
    assert sorted(got) == sorted(expected)
    assert len(new) == len(got) and new.total_length == total
    # Within the rows of each size of id, the table's key order (term key, item key).
    for size in {len(i.encode()) for i in items}:
        keys = [(r[2], r[3]) for r in got if len(r[4].encode()) == size]
        assert keys == sorted(keys)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with postgres_store(tmp_path) as s:
        yield s


def _table(url: str) -> tuple[list[Row], int, int]:
    """The collection's postings rows and its (text_items, text_length)."""
    with psycopg.connect(url) as conn:
        (cid,) = conn.execute("SELECT id FROM nigh_collections").fetchall()[0]
        table = sql.Identifier(f"nigh_postings_{int(cid)}")
        rows = conn.execute(
            sql.SQL("SELECT tf, length, term_hash, item_hash, item FROM {}").format(table)
        ).fetchall()
        stats = conn.execute(
            "SELECT text_items, text_length FROM nigh_collections WHERE id = %s", (cid,)
        ).fetchone()
    assert stats is not None
    return [(r[0], r[1], bytes(r[2]), bytes(r[3]), r[4]) for r in rows], stats[0], stats[1]


def _items(texts: dict[str, str]) -> list[dict[str, Any]]:
    return [{"id": i, "vector": [1.0, 0.0], "text": t} for i, t in texts.items()]


@pytest.mark.parametrize("path", ["unnest", "copy"])
def test_the_postings_table_is_exact_after_every_write(
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
    rows, n_items, total_length = _table(url)
    expected, total = _expected(texts, "plain")
    assert sorted(rows) == sorted(expected)
    assert (n_items, total_length) == (len(texts), total)


def test_a_failure_while_the_server_merges_writes_nothing(
    store: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.ensure_collection(T, Collection("c", 2))
    store.upsert(T, "c", _items({"a": "cat"}))

    def broken(analyzer: str, new: object) -> postings.NewPostings:
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
    rows, n_items, _ = _table(url_for(tmp_path))
    assert n_items == 2 and len(rows) == 2
