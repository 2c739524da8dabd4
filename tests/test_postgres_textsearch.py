"""The pgvector backend's paths of text and hybrid search (contract §14).

Text-only search reads the terms' postings (``postings.postings_statement``: the stored
arrays, the tombstones of their items, the items a filter passes), scores them in Python
and fetches the payload of the best rows only, in one snapshot over two round trips;
``vectorranks`` counts in the server the exact vector rank of the text items fusion asks
about. Both must give exactly what the definitions give: these tests watch each path being
taken (a spy on the function, so a silent fall-back to another path fails them) and compare
the results with the pure references and with the complete vector ranking, on data built to
be hard for them: many items tied on score, repeated vectors (ties decided by id), a
filter, dead postings, ids that need quoting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from nighdb import Collection
from nighdb.backends.postgres import PostgresStore, textmerges, textsearch, vectorranks
from nighdb.errors import CollectionNotFoundError

from .pg_server import postgres_store, url_for
from .reference_text import bm25, rrf

T = "tenant"
BIG = 100_000
WORDS = ["ant", "bee", "cat", "dog", "eel"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with postgres_store(tmp_path) as s:
        yield s


def _spy(monkeypatch: pytest.MonkeyPatch, name: str, module: ModuleType = textsearch) -> list[Any]:
    """Record what ``module.<name>`` returns on each call."""
    real = getattr(module, name)
    calls: list[Any] = []

    def recorded(*args: Any) -> Any:
        out = real(*args)
        calls.append(out)
        return out

    monkeypatch.setattr(module, name, recorded)
    return calls


def _load(
    store: PostgresStore, metric: str, n: int = 700, shapes: list[str] | None = None
) -> dict[str, str]:
    rng = np.random.default_rng(20)
    vectors = rng.standard_normal((n, 8)).round(2)
    vectors[n // 2 : n // 2 + 80] = vectors[:80]  # identical distances: ids decide
    # Few words, short texts: hundreds of items share each BM25 score.
    texts = {
        f"i{k:04d}": " ".join(rng.choice(WORDS, size=int(rng.integers(0, 4))).tolist())
        for k in range(n)
    }
    if shapes:
        texts = {i: shapes[k % len(shapes)] for k, i in enumerate(texts)}
    store.ensure_collection(T, Collection("c", 8, metric=metric))
    store.upsert(
        T,
        "c",
        [
            {"id": i, "vector": v.tolist(), "metadata": {"g": k % 3}, "text": t}
            for k, ((i, t), v) in enumerate(zip(texts.items(), vectors, strict=True))
        ],
    )
    return texts


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_server_counted_ranks_are_the_exact_vector_ranks(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch, metric: str
) -> None:
    texts = _load(store, metric)
    calls = _spy(monkeypatch, "vector_ranks")
    ahead = _spy(monkeypatch, "ranks_and_top")  # ranks counted with the first depth
    query = [0.3, -1.1, 0.5, 0.0, 2.0, -0.4, 0.7, 1.0]
    for flt in (None, {"g": {"lt": 2}}, {"g": 7}):
        every = store.search(T, "c", query, limit=BIG, filter=flt)
        rank = {m.id: (r, m.distance) for r, m in enumerate(every, start=1)}
        text_order = [i for i, _ in bm25(texts, "eel", rank.__contains__)]
        calls.clear()
        ahead.clear()
        for weight in (0.3, 0.7, 0.9):
            got = store.search(T, "c", query, text="eel", text_weight=weight, filter=flt)
            want = rrf([m.id for m in every], text_order, weight)[:10]
            assert [m.id for m in got] == [i for i, _ in want]
            assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
            assert [m.distance for m in got] == [rank[m.id][1] for m in got]
        answers = calls + [ranks for ranks, _ in ahead]
        if flt == {"g": 7}:
            assert not any(answers)  # nothing passes: nothing to rank
            continue
        # The shortcut ran (a low weight needs no rank) and told each rank exactly.
        assert any(answers) and all(a is not None for a in answers)
        for answer in answers:
            assert {i: rank[i] for i in answer} == answer


def test_inner_product_falls_back_to_the_ranking(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _load(store, "ip")
    calls = _spy(monkeypatch, "vector_ranks")
    query = [1.0, 0.5, -0.5, 0.0, 0.2, 0.1, -1.0, 0.3]
    every = store.search(T, "c", query, limit=BIG)
    want = rrf([m.id for m in every], [i for i, _ in bm25(texts, "eel", lambda _: True)], 0.6)
    got = store.search(T, "c", query, text="eel", text_weight=0.6)
    assert [m.id for m in got] == [i for i, _ in want[:10]]
    assert calls == [None]


@pytest.mark.parametrize("limit", [1, 5, 40, BIG])
def test_text_only_bm25_is_the_definition(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    # Every text one of a few shapes: dozens of items tie on each score, the top included.
    shapes = ["eel", "ant", "eel ant", "bee cat", "", "eel eel dog ant", "cat", "ant bee"]
    texts = _load(store, "cosine", 500, shapes)
    scored = _spy(monkeypatch, "scored_postings")
    for query in ("eel", "ant bee", "cat dog eel ant"):
        for flt, passes in (
            (None, lambda _: True),
            ({"g": 1}, lambda i: int(i[1:]) % 3 == 1),
            ({"g": 7}, lambda _: False),
        ):
            got = store.search(T, "c", text=query, limit=limit, filter=flt)
            want = bm25(texts, query, passes)[:limit]
            assert [m.id for m in got] == [i for i, _ in want]
            assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
            assert [m.text for m in got] == [texts[i] for i, _ in want]
            assert all(m.metadata == {"g": int(m.id[1:]) % 3} for m in got)
    assert len(scored) == 9  # one read of the postings per search


def test_only_the_best_rows_are_fetched_with_their_payload(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Texts holding "eel" once, of sixty lengths, three items each: sixty scores.
    shapes = [" ".join(["eel", *["ant"] * j]) for j in range(60)]
    texts = _load(store, "cosine", 180, shapes)
    asked = _spy(monkeypatch, "_payload_statement")
    got = store.search(T, "c", text="eel", limit=5)
    want = bm25(texts, "eel", lambda _: True)[:5]
    assert [(m.id, m.text) for m in got] == [(i, texts[i]) for i, _ in want]
    [(_, params)] = asked
    assert params == [[i for i, _ in want]]


def test_dead_postings_are_left_out(store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # No compaction: the replaced and deleted items' postings stay, under tombstones.
    monkeypatch.setattr(textmerges, "_TOMBSTONES_FLOOR", 10**6)
    texts = _load(store, "cosine", 300)
    changed = {i: "eel " * (k % 4 + 1) + "cat" for k, i in enumerate(list(texts)[::7])}
    store.upsert(T, "c", [{"id": i, "vector": [1.0] * 8, "text": t} for i, t in changed.items()])
    store.update(T, "c", [{"id": i, "metadata": {"g": 1}} for i in changed])
    gone = list(texts)[1::9]
    store.delete(T, "c", gone)
    texts = {i: changed.get(i, t) for i, t in texts.items() if i not in gone}
    group = {i: (1 if i in changed else int(i[1:]) % 3) for i in texts}
    for query in ("eel", "cat ant", "eel cat dog"):
        for flt, passes in ((None, lambda _: True), ({"g": 1}, lambda i: group[i] == 1)):
            got = store.search(T, "c", text=query, limit=BIG, filter=flt)
            want = bm25(texts, query, passes)
            assert [m.id for m in got] == [i for i, _ in want]
            assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)


def test_ids_that_need_quoting_come_back_as_they_are(store: PostgresStore) -> None:
    # The postings come back as arrays of ids and the payload as rows: array syntax and its
    # escapes must give back each id exactly.
    ids = ['a"b', "c\\d", "e,f", "{g}", "NULL", " h ", "i\tj", "é👍", "k'l", "(m)"]
    store.ensure_collection(T, Collection("q", 2))
    store.upsert(T, "q", [{"id": i, "vector": [1.0, 0.0], "text": "eel"} for i in ids])
    got = store.search(T, "q", text="eel", limit=BIG)
    assert [m.id for m in got] == sorted(ids)
    assert store.search(T, "q", text="eel", filter={"x": {"exists": False}}, limit=3) == got[:3]


def test_a_failed_search_leaves_no_transaction_open(store: PostgresStore, tmp_path: Path) -> None:
    _load(store, "cosine", 200)
    with psycopg.connect(url_for(tmp_path), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedFunction):  # the collection's reader
            textsearch.text_search(conn, store._layout, 10**6, ["eel"], 10, None)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    # A collection dropped behind the store's pin: the search reads a table that is gone,
    # then fails as not found, and the store's connection is fine afterwards.
    other = PostgresStore(url_for(tmp_path))
    try:
        other.drop_collection(T, "c")
    finally:
        other.close()
    with pytest.raises(CollectionNotFoundError):
        store.search(T, "c", text="eel")
    store.ensure_collection(T, Collection("c", 8))
    assert store.search(T, "c", text="eel") == []


def test_a_distance_of_exactly_one_falls_back_to_the_ranking(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pgvector's cosine of a vector whose float32 squared norm overflowed is exactly 0 (a
    # distance of 1), so the oracle cannot trust any item at exactly 1: here a third of the
    # items are orthogonal to the query, and fusion must read the ranking instead.
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((400, 4)).round(2)
    vectors[::3, 0] = 0.0
    texts = {f"o{k:03d}": " ".join(rng.choice(WORDS, size=2).tolist()) for k in range(400)}
    store.ensure_collection(T, Collection("o", 4))
    store.upsert(
        T,
        "o",
        [
            {"id": i, "vector": v.tolist(), "text": t}
            for (i, t), v in zip(texts.items(), vectors, strict=True)
        ],
    )
    ahead = _spy(monkeypatch, "ranks_and_top")
    query = [1.0, 0.0, 0.0, 0.0]
    every = store.search(T, "o", query, limit=BIG)
    want = rrf([m.id for m in every], [i for i, _ in bm25(texts, "eel", lambda _: True)], 0.5)
    got = store.search(T, "o", query, text="eel", text_weight=0.5)
    assert [m.id for m in got] == [i for i, _ in want[:10]]
    assert [m.score for m in got] == pytest.approx([s for _, s in want[:10]], rel=1e-9)
    assert [ranks for ranks, _ in ahead] == [None]


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("guess", ["sampled", "too low"])
def test_the_parallel_scan_below_a_sampled_distance_is_exact(
    store: PostgresStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metric: str, guess: str
) -> None:
    # The scan that takes the first vector items below a sampled distance is for large
    # collections; here it runs on this one (the sample is the whole table, so the guess is
    # the same on every run), or is handed a guess too low, so it must scan again.
    n = 1500
    texts = _load(store, metric, n=n)
    with psycopg.connect(url_for(tmp_path), autocommit=True) as conn:
        tables = conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class AS c JOIN pg_namespace AS s"
            " ON s.oid = c.relnamespace WHERE s.nspname = current_schema()"
            " AND c.relname LIKE 'nigh_items_%%' AND c.relkind = 'r'"
        ).fetchall()
        for (table,) in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(str(table))))
    monkeypatch.setattr(vectorranks, "_PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(vectorranks, "_SAMPLE_ROWS", n)
    if guess == "too low":
        monkeypatch.setattr(vectorranks, "_top_threshold", lambda *args: -1.0)
    answers = _spy(monkeypatch, "_scan_below", vectorranks)
    query = [0.3, -1.1, 0.5, 0.0, 2.0, -0.4, 0.7, 1.0]
    for flt in (None, {"g": {"lt": 2}}):
        every = store.search(T, "c", query, limit=BIG, filter=flt)
        rank = {m.id: m.distance for m in every}
        text_order = [i for i, _ in bm25(texts, "eel", rank.__contains__)]
        for weight in (0.3, 0.7):
            got = store.search(T, "c", query, text="eel", text_weight=weight, filter=flt)
            want = rrf([m.id for m in every], text_order, weight)[:10]
            assert [m.id for m in got] == [i for i, _ in want]
            assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
            assert [m.distance for m in got] == [rank[m.id] for m in got]
    assert answers  # the weights that let fusion foresee its ranks took this scan
    if guess == "sampled":
        assert all(a is not None for a in answers)  # taken, not fallen back
    else:
        assert all(a is None for a in answers)  # too few below the guess: scanned again


@pytest.mark.parametrize(
    "flt",
    [
        {"s": "b'c"},
        {"s": {"gte": "b", "lt": "c\\\\"}},
        {"s": {"not_in": ["a", "é"]}},
        {"f": {"gt": 0.25}},
        {"f": {"lte": 1.0}, "g": {"in": [0, 2.0]}},
        {"g": {"ne": 1}},
        {"s": {"exists": False}},
        {"$or": [{"g": 0}, {"$not": {"f": {"lt": 1.5}}}]},
    ],
)
def test_text_search_filters_mean_what_they_mean_in_vector_search(
    store: PostgresStore, flt: dict[str, Any]
) -> None:
    # Text-only search sends its filter in a pipeline with the snapshot's BEGIN (an earlier
    # version bound the values into the statement's text); the same filter on a vector
    # search is the reference.
    strings = ["a", "b'c", "c\\\\", "é", "b", 'q"']
    store.ensure_collection(T, Collection("f", 2))
    texts = {f"i{k:03d}": " ".join(WORDS[: k % 5 + 1]) for k in range(120)}
    store.upsert(
        T,
        "f",
        [
            {
                "id": i,
                "vector": [1.0, float(k)],
                "text": t,
                "metadata": {"g": k % 3, "f": (k % 7) / 2}
                | ({} if k % 11 == 0 else {"s": strings[k % len(strings)]}),
            }
            for k, (i, t) in enumerate(texts.items())
        ],
    )
    passing = {m.id for m in store.search(T, "f", [1.0, 0.0], limit=BIG, filter=flt)}
    assert 0 < len(passing) < len(texts)
    got = store.search(T, "f", text="cat eel", limit=BIG, filter=flt)
    want = bm25(texts, "cat eel", passing.__contains__)
    assert [m.id for m in got] == [i for i, _ in want]
    assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
