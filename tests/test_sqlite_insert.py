"""The embedded backend's upsert as one ``INSERT ... SELECT`` per chunk (``item_insert``) with
the texts analysed meanwhile (``worker``): every string comes back exactly, a repeated id's
last row wins, the postings equal ``reference_text.bm25`` on the paths with and without a
worker thread and across chunks, and a failing insert leaves nothing written and no thread.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nighdb
from nighdb import Collection, NighError
from nighdb.backends.sqlite import item_writes
from nighdb.backends.sqlite.worker import Worker

from .reference_text import bm25

T, C = "t", "docs"
WORDS = ["red", "fox", "Dog", "blue", "cat", "Éclair", "sea", "sky", "ß", "tree", "rock", "ﬁg"]
QUERIES = ["red fox", "dog", "blue sky ss", "éclair tree", "fig rock cat sea"]
# More texts than this in a batch take the worker thread.
THREADED = item_writes._THREAD_TEXTS


def _check(store: nighdb.Store, texts: dict[str, str]) -> None:
    for query in QUERIES:
        got = store.search(T, C, text=query, limit=len(texts) + 1)
        want = bm25(texts, query, lambda _: True)
        assert [m.id for m in got] == [i for i, _ in want], query
        assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)


def _text(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(0, 7))).tolist())


def test_threaded_and_inline_batches_keep_exact_postings(tmp_path: Path) -> None:
    """Batches on both sides of the thread threshold, with repeated ids, replacements of
    stored items, empty texts and numpy ``str_`` ids, then one batch of two chunks: after
    each, every stored text and every search equals the reference."""
    rng = np.random.default_rng(11)
    texts: dict[str, str] = {}
    with nighdb.open_store(f"sqlite:///{tmp_path / 'x.db'}") as store:
        store.ensure_collection(T, Collection(C, 2))
        for size in (THREADED + 50, 5, THREADED - 1, 2 * THREADED):
            ids = rng.integers(0, 3 * THREADED, size=size)  # repeats within and across
            batch: list[dict[str, Any]] = []
            for n in ids.tolist():
                item_id: str = np.str_(f"d{n}") if n % 3 else f"d{n}"
                batch.append({"id": item_id, "vector": [1.0, float(n)], "text": _text(rng)})
            assert store.upsert(T, C, batch) == size
            texts.update((str(item["id"]), item["text"]) for item in batch)  # the last wins
            _check(store, texts)
            stored = store.fetch(T, C, sorted(texts))
            assert {i.id: i.text for i in stored} == texts
        many = {f"m{i}": _text(rng) for i in range(10_000 + THREADED)}  # two chunks
        store.upsert(T, C, [{"id": i, "vector": [0.5, 1.0], "text": t} for i, t in many.items()])
        texts |= many
        _check(store, texts)
        assert {i.id: i.text for i in store.fetch(T, C, sorted(many))} == many


# Any valid string: no NUL (refused by validation) and no lone surrogate.
_STRINGS = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


@settings(max_examples=25, deadline=None)
@given(
    ids=st.lists(_STRINGS.filter(bool), min_size=1, max_size=8, unique=True),
    values=st.lists(st.tuples(_STRINGS, _STRINGS), min_size=8, max_size=8),
    threaded=st.booleans(),
)
def test_strings_come_back_exactly(
    tmp_path_factory: pytest.TempPathFactory,
    ids: list[str],
    values: list[tuple[str, str]],
    threaded: bool,
) -> None:
    """Ids, metadata and texts of any characters (separators, quotes, controls, non-BMP)
    round-trip through the rows' blobs, in a batch with or without the worker thread."""
    path = tmp_path_factory.mktemp("s") / "s.db"
    filler: list[dict[str, Any]] = [
        {"id": f"~{n}", "vector": [1.0], "text": "red"} for n in range(THREADED)
    ]
    items: list[dict[str, Any]] = [
        {"id": i, "vector": [1.0], "text": text, "metadata": {key: text, "n": 2**62 + 1}}
        for i, (key, text) in zip(ids, values, strict=False)
    ]
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 1))
        store.upsert(T, C, items + (filler if threaded else []))
        got = {i.id: (i.text, i.metadata) for i in store.fetch(T, C, ids)}
    assert got == {str(i["id"]): (i["text"], i["metadata"]) for i in items}


def test_a_failing_insert_leaves_nothing_and_no_thread(tmp_path: Path) -> None:
    """The insert fails in the worker thread (a trigger aborts one row): the upsert raises
    the translated error, no row, segment or chunk of postings is written, and the thread is
    gone when it returns."""
    path = tmp_path / "f.db"
    with nighdb.open_store(f"sqlite:///{path}") as store:
        store.ensure_collection(T, Collection(C, 2))
        texts = {f"d{i}": WORDS[i % 12] for i in range(20)}
        store.upsert(T, C, [{"id": i, "vector": [1.0, 0.0], "text": t} for i, t in texts.items()])
        conn = apsw.Connection(str(path))
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON nigh_items_1 WHEN NEW.id = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
        tables = ("nigh_items_1", "nigh_textseg_1", "nigh_textpost_1", "nigh_collections")
        before = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
        threads = threading.active_count()
        batch = [{"id": f"n{i}", "vector": [0.0, 1.0], "text": "sky"} for i in range(THREADED)]
        with pytest.raises(NighError, match="boom"):
            store.upsert(T, C, [*batch, {"id": "boom", "vector": [1.0, 1.0], "text": "x"}])
        assert threading.active_count() == threads
        assert {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in tables} == before
        _check(store, texts)
        conn.close()


def test_worker_runs_in_a_thread_or_inline_and_hands_back_its_error() -> None:
    caller = threading.get_ident()
    with Worker(threading.get_ident, inline=False) as threaded:
        assert threaded.result() != caller
    with Worker(threading.get_ident, inline=True) as inline:
        assert inline.result() == caller

    def fail() -> None:
        raise ValueError("from the worker")

    threads = threading.active_count()
    with pytest.raises(ValueError, match="from the worker"), Worker(fail, inline=False) as w:
        w.result()
    assert threading.active_count() == threads


def test_worker_is_joined_when_the_caller_raises() -> None:
    release = threading.Event()
    done: list[bool] = []

    def slow() -> None:
        release.wait(10)
        done.append(True)

    with pytest.raises(RuntimeError), Worker(slow, inline=False):
        release.set()
        raise RuntimeError("the caller's own failure")
    assert done == [True]  # the with block waited for the thread
