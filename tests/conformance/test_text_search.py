"""Text and hybrid search (contract §14) on every backend: BM25 against the pure reference
(``tests/reference_text.py``), the analyzer pin, the edge cases, and the postings kept exact
through upserts, updates and deletes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection, CollectionConflictError, InvalidArgumentError

from ..reference_text import bm25, rrf
from ._helpers import BIG, TENANT, ids, make, raises

TEXTS = {
    "a": "The quick brown fox",
    "b": "QUICK quick Fox! fox fox",
    "c": "ﬁne ﬁsh, Straße",  # compatibility forms: the ligature fi becomes "fi"
    "d": "",
    "e": "brown dog, 2024 numbers 42",
    "f": "fine FISH strasse",
}


def _load(store: nighdb.Store, texts: dict[str, str] = TEXTS, analyzer: str = "plain") -> None:
    store.ensure_collection(TENANT, Collection("docs", 2, text_analyzer=analyzer))
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": i, "vector": [1.0, float(n)], "metadata": {"n": n}, "text": t}
            for n, (i, t) in enumerate(texts.items())
        ],
    )


def _check_text(
    store: nighdb.Store, texts: dict[str, str], query: str, *, limit: int = BIG, **kw: Any
) -> None:
    got = store.search(TENANT, "docs", text=query, limit=limit, **kw)
    want = bm25(texts, query, lambda _: True)[:limit]
    assert ids(got) == [i for i, _ in want]
    for match, (_, score) in zip(got, want, strict=True):
        assert match.score == pytest.approx(score, rel=1e-9)
        assert match.distance == -match.score
        assert match.text == texts[match.id]


def _check_hybrid(
    store: nighdb.Store,
    collection: str,
    texts: dict[str, str],
    query: list[float],
    text: str,
    weight: float,
    flt: dict[str, Any] | None,
    *,
    limit: int,
) -> None:
    """The hybrid top ``limit`` is the reference RRF of the exact vector ranking and the
    reference BM25 ranking of the items passing ``flt``: ids, scores and distances."""
    every = store.search(TENANT, collection, query, limit=BIG, filter=flt)
    passing = set(ids(every))
    text_order = [i for i, _ in bm25(texts, text, passing.__contains__)]
    want = rrf(ids(every), text_order, weight)[:limit]
    got = store.search(
        TENANT, collection, query, text=text, text_weight=weight, limit=limit, filter=flt
    )
    assert ids(got) == [i for i, _ in want], (weight, flt)
    assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
    distance = {m.id: m.distance for m in every}
    assert [m.distance for m in got] == [distance[m.id] for m in got]


def test_text_ranking_is_bm25(store: nighdb.Store) -> None:
    _load(store)
    _check_text(store, TEXTS, "quick fox")
    _check_text(store, TEXTS, "fox", limit=1)
    _check_text(store, TEXTS, "brown 42")


def test_repeated_query_tokens_count_once(store: nighdb.Store) -> None:
    _load(store)
    once = store.search(TENANT, "docs", text="fox")
    twice = store.search(TENANT, "docs", text="fox FOX fox")
    assert [(m.id, m.score) for m in once] == [(m.id, m.score) for m in twice]


def test_unicode_case_and_compatibility_forms_match(store: nighdb.Store) -> None:
    _load(store)
    # NFKC turns the ligature into "fi"; case folding turns ß into "ss".
    assert set(ids(store.search(TENANT, "docs", text="FINE"))) == {"c", "f"}
    assert set(ids(store.search(TENANT, "docs", text="STRASSE"))) == {"c", "f"}
    _check_text(store, TEXTS, "ﬁsh straße")


def test_no_searchable_token_is_invalid(store: nighdb.Store) -> None:
    _load(store)
    for query in ("", "  ,.;!", "___"):
        with raises(InvalidArgumentError):
            store.search(TENANT, "docs", text=query)
    with raises(InvalidArgumentError):
        store.search(TENANT, "docs")  # neither a vector nor a text
    # With a vector, a text without tokens adds nothing: the vector order, fused scores.
    got = store.search(TENANT, "docs", [1.0, 0.0], text="!!", limit=3)
    assert ids(got) == ids(store.search(TENANT, "docs", [1.0, 0.0], limit=3))


def test_text_weight_must_be_in_0_1(store: nighdb.Store) -> None:
    _load(store)
    for weight in (-0.1, 1.5, float("nan"), "0.5", True):
        with raises(InvalidArgumentError):
            store.search(TENANT, "docs", [1.0, 0.0], text="fox", text_weight=weight)  # type: ignore[arg-type]


def test_items_without_text_never_match_and_empty_texts_count(store: nighdb.Store) -> None:
    _load(store)
    assert "d" not in ids(store.search(TENANT, "docs", text="fox dog fine"))


def test_filter_excluding_all_and_limit_beyond_matches(store: nighdb.Store) -> None:
    _load(store)
    assert store.search(TENANT, "docs", text="fox", filter={"n": {"gt": 100}}) == []
    got = store.search(TENANT, "docs", text="fox", limit=50, filter={"n": {"lte": 1}})
    want = bm25(TEXTS, "fox", lambda i: list(TEXTS).index(i) <= 1)
    assert ids(got) == [i for i, _ in want]
    assert [m.score for m in got] == pytest.approx([s for _, s in want], rel=1e-9)
    assert store.search(TENANT, "docs", text="nothing here") == []


def test_hybrid_is_reciprocal_rank_fusion(store: nighdb.Store) -> None:
    _load(store)
    query = [1.0, 2.2]
    for weight in (0.0, 0.3, 0.5, 1.0):
        for flt in (None, {"n": {"gte": 1}}):
            _check_hybrid(store, "docs", TEXTS, query, "fox fine", weight, flt, limit=4)


def test_postings_follow_upsert_update_and_delete(store: nighdb.Store) -> None:
    _load(store)
    texts = dict(TEXTS)
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "text": "slow fox"}])
    texts["a"] = "slow fox"
    store.update(TENANT, "docs", [{"id": "e", "text": "fox fox dog"}])
    texts["e"] = "fox fox dog"
    store.update(TENANT, "docs", [{"id": "b", "metadata": {"n": 9}}])  # text unchanged
    _check_text(store, texts, "fox quick slow dog")
    store.delete(TENANT, "docs", ["b"])
    del texts["b"]
    _check_text(store, texts, "fox quick slow dog")
    store.delete(TENANT, "docs", filter={"n": 5})
    del texts["f"]
    _check_text(store, texts, "fox fine dog")
    store.delete(TENANT, "docs", filter={})
    assert store.search(TENANT, "docs", text="fox") == []
    store.upsert(TENANT, "docs", [{"id": "z", "vector": [1.0, 0.0], "text": "fox"}])
    _check_text(store, {"z": "fox"}, "fox")


def test_a_failed_batch_leaves_the_postings_alone(store: nighdb.Store) -> None:
    _load(store)
    with raises(nighdb.DimensionMismatchError):
        store.upsert(
            TENANT,
            "docs",
            [{"id": "new", "vector": [1.0, 0.0], "text": "fox"}, {"id": "bad", "vector": [1.0]}],
        )
    _check_text(store, TEXTS, "fox")


def test_text_analyzer_is_pinned(store: nighdb.Store) -> None:
    make(store, "plain_one")
    assert store.describe_collection(TENANT, "plain_one") == Collection("plain_one", 2)
    pin = store.ensure_collection(TENANT, Collection("eng", 2, text_analyzer="english"))
    assert pin.text_analyzer == "english"
    assert store.ensure_collection(TENANT, Collection("eng", 0, text_analyzer="")) == pin
    with raises(CollectionConflictError):
        store.ensure_collection(TENANT, Collection("eng", 2, text_analyzer="plain"))
    with raises(InvalidArgumentError):
        store.ensure_collection(TENANT, Collection("other", 2, text_analyzer="klingon"))
    fresh = store.ensure_collection(TENANT, Collection("unset", 2, text_analyzer=""))
    assert fresh.text_analyzer == "plain"


def test_english_analyzer_stems_and_drops_stop_words(store: nighdb.Store) -> None:
    texts = {"x": "The runners were running", "y": "a run of the mill", "z": "ran away"}
    _load(store, texts, analyzer="english")
    assert set(ids(store.search(TENANT, "docs", text="RUNS"))) == {"x", "y"}
    with raises(InvalidArgumentError):
        store.search(TENANT, "docs", text="the and of")  # stop words only


def test_hybrid_is_exact_when_vectors_and_texts_are_unrelated(store: nighdb.Store) -> None:
    # The worst case for fusion: the top text items lie anywhere in the vector ranking, so
    # their vector ranks must be found without reading the vector ranking only to a depth.
    # 1,200 items put most of them below any first depth; repeated vectors make ids decide.
    rng = np.random.default_rng(16)
    vectors = rng.standard_normal((1200, 6)).round(2)
    vectors[600:700] = vectors[:100]
    words = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen"]
    texts = {
        f"t{n:04d}": " ".join(rng.choice(words, size=int(rng.integers(0, 6))).tolist())
        for n in range(1200)
    }
    store.ensure_collection(TENANT, Collection("noise", 6))
    store.upsert(
        TENANT,
        "noise",
        [
            {"id": i, "vector": v.tolist(), "metadata": {"n": n % 3}, "text": t}
            for n, ((i, t), v) in enumerate(zip(texts.items(), vectors, strict=True))
        ],
    )
    query = rng.standard_normal(6).round(2).tolist()
    for weight in (0.2, 0.5, 0.9):
        for flt in (None, {"n": {"lt": 2}}):
            _check_hybrid(store, "noise", texts, query, "hen eel", weight, flt, limit=10)
