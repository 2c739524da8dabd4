"""The text module (contract §14) against its definition: the tokenizer against a
per-character reference over every code point, the english analyzer's two stemmers against
each other, BM25 against ``reference_text``, and fusion against the full-ranking RRF."""

from __future__ import annotations

import random
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import snowballstemmer
import Stemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from nighdb.fusion import fuse
from nighdb.text import (
    ENGLISH_STOP_WORDS,
    analyze,
    analyze_query,
    analyze_tokens,
    bm25_scores,
    rank_text,
    segment_tier,
    tokenize,
)

from .reference_text import bm25, reference_tokens, rrf


def test_the_token_pattern_is_exactly_letters_and_digits() -> None:
    """Every code point: the regex's class equals Unicode categories L* and N*."""
    wrong = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if (tokenize(chr(c)) == [chr(c)]) != (unicodedata.category(chr(c))[0] in "LN")
        and unicodedata.normalize("NFKC", chr(c)).casefold() == chr(c)
    ]
    assert wrong == []


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=40))
def test_tokenize_matches_the_reference(text: str) -> None:
    assert tokenize(text) == reference_tokens(text)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_the_ascii_fast_path_matches_the_reference(text: str) -> None:
    """ASCII text is tokenized by a byte translation, not the regex: the same tokens."""
    assert tokenize(text) == reference_tokens(text)


def test_the_ascii_fast_path_over_every_ascii_character() -> None:
    every = "".join(map(chr, range(128)))
    assert tokenize(every) == reference_tokens(every)
    letters = "abcdefghijklmnopqrstuvwxyz"
    assert tokenize(every) == ["0123456789", letters, letters]
    assert tokenize("Hello_World x-Y 42nd\tTAB\x00nul") == [
        "hello",
        "world",
        "x",
        "y",
        "42nd",
        "tab",
        "nul",
    ]


def test_tokens_examples() -> None:
    assert tokenize("ﬁne Straße! x_y 42nd, ÅNGSTRÖM") == [
        "fine",
        "strasse",
        "x",
        "y",
        "42nd",
        "ångström",
    ]
    assert tokenize("") == []


def test_english_drops_the_33_stop_words_and_stems() -> None:
    assert len(ENGLISH_STOP_WORDS) == 33
    assert analyze_tokens("The runners were running to the hills", "english") == [
        "runner",
        "were",
        "run",
        "hill",
    ]
    assert analyze_tokens("The runners", "plain") == ["the", "runners"]


def test_both_stemmers_give_the_same_stems() -> None:
    words = sorted(set(tokenize(Path(__file__).read_text(encoding="utf-8"))))
    words += ["generalizations", "happily", "ponies", "caresses", "sky", "news", "dying"]
    assert Stemmer.Stemmer("english").stemWords(words) == snowballstemmer.stemmer(
        "english"
    ).stemWords(words)


def test_query_terms_are_distinct_and_sorted() -> None:
    assert analyze_query("b a B a", "plain") == ["a", "b"]
    assert analyze("b a B a", "plain").terms == {"b": 2, "a": 2}


texts_strategy = st.dictionaries(
    st.text("abcdef", min_size=1, max_size=3),
    st.lists(st.sampled_from(["x", "y", "z", "w", "Ⅻ", "x2"]), max_size=8).map(" ".join),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(texts_strategy, st.lists(st.sampled_from(["x", "y", "z", "q", "x2"]), max_size=4))
def test_bm25_scores_match_the_reference(texts: dict[str, str], query: list[str]) -> None:
    terms = analyze_query(" ".join(query), "plain")
    ids = sorted(texts)
    docs = {i: analyze(texts[i], "plain") for i in ids}
    total = sum(d.length for d in docs.values())
    parts = []
    for term in terms:
        holders = [k for k, i in enumerate(ids) if term in docs[i].terms]
        arr = np.array(holders, dtype=np.int64)
        tf = np.array([docs[ids[k]].terms[term] for k in holders], dtype=np.int64)
        lengths = np.array([docs[ids[k]].length for k in holders], dtype=np.int64)
        parts.append((len(holders), arr, tf, lengths))
    keys, scores = bm25_scores(len(ids), total, parts)
    got = rank_text([ids[k] for k in keys.tolist()], scores)
    want = bm25(texts, " ".join(query), lambda _: True)
    assert got.ids == [i for i, _ in want]
    assert got.scores == pytest.approx([s for _, s in want], rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 30), st.integers(1, 9), st.integers(1, 50)), max_size=20),
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
def test_dense_keys_score_bit_for_bit_as_sorted_ones(
    terms: list[list[tuple[int, int, int]]], rng: random.Random
) -> None:
    """``dense=n`` (keys exactly 0 .. n-1) skips sorting the keys and nothing else: the
    same floats, in the same order, as for the same keys spread out and sorted."""
    parts = []
    for postings in terms:
        unique = list({item: (tf, length) for item, tf, length in postings}.items())
        parts.append(
            (
                len(unique) + rng.randrange(5),
                np.array([i for i, _ in unique], dtype=np.int64),
                np.array([tf for _, (tf, _) in unique], dtype=np.int64),
                np.array([length for _, (_, length) in unique], dtype=np.int64),
            )
        )
    present = sorted({int(i) for _, items, _, _ in parts for i in items})
    relabel = {old: new for new, old in enumerate(present)}
    dense_parts = [
        (df, np.array([relabel[int(i)] for i in items], dtype=np.int64), tf, lengths)
        for df, items, tf, lengths in parts
    ]
    keys, scores = bm25_scores(100, 900, parts)
    dense_keys, dense_scores = bm25_scores(100, 900, dense_parts, dense=len(present))
    assert [present[k] for k in dense_keys.tolist()] == keys.tolist()
    assert dense_scores.tobytes() == scores.tobytes()


@settings(max_examples=200, deadline=None)
@given(
    st.permutations([f"i{n:02d}" for n in range(40)]),
    st.lists(st.sampled_from([f"i{n:02d}" for n in range(40)]), unique=True, max_size=40),
    st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, 1 / 3]),
    st.integers(1, 45),
)
def test_fusion_is_the_full_ranking_rrf(
    vector_order: list[str], text_ids: list[str], weight: float, limit: int
) -> None:
    text = rank_text(text_ids, np.linspace(2.0, 1.0, len(text_ids)))

    def vector_top(depth: int) -> list[tuple[float, str]]:
        return [(float(r), i) for r, i in enumerate(vector_order[:depth])]

    got = fuse(text, vector_top, limit, weight)
    want = rrf(vector_order, text.ids, weight)[:limit]
    assert [h.id for h in got] == [i for i, _ in want]
    assert [h.score for h in got] == [s for _, s in want]
    assert [h.distance for h in got] == [float(vector_order.index(h.id)) for h in got]


@given(
    scores=st.lists(st.sampled_from([0.5, 1.25, 2.0, 3.5]), max_size=40),
    limit=st.integers(0, 45),
)
def test_rank_text_with_a_limit_is_the_head_of_the_full_ranking(
    scores: list[float], limit: int
) -> None:
    # Few distinct scores: the cut falls inside runs of ties, which ids decide.
    ids = [f"i{(k * 7) % 41:02d}" for k in range(len(scores))]
    full = rank_text(ids, np.array(scores, dtype=np.float64))
    head = rank_text(ids, np.array(scores, dtype=np.float64), limit=limit)
    assert (head.ids, head.scores) == (full.ids[:limit], full.scores[:limit])


@pytest.mark.parametrize("factor", [2, 8, 10])
def test_segment_tier_is_floor_log_in_integers(factor: int) -> None:
    # Both backends merge segments by this size class; a float log of an exact power can
    # fall just below it (math.log(1000, 10) is 2.9999999999999996).
    assert segment_tier(0, factor) == segment_tier(1, factor) == 0
    for tier in range(1, 12):
        power = factor**tier
        assert segment_tier(power - 1, factor) == tier - 1
        assert segment_tier(power, factor) == tier
