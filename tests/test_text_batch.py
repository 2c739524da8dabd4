"""``analyze_batch``, the ingest path's analysis, against ``analyze`` of each text alone: the
same postings (term, text, tf, length) and total length, so batching changes no result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nighdb.text import ANALYZERS, analyze, analyze_batch, analyze_batch_arrays

# Few distinct words, so terms repeat within and across texts; plus any text at all.
_WORDS = st.sampled_from(["Cats", "cat", "the", "running", "RUN", "école", "ﬁle", "x_1", "2"])
_TEXTS = st.one_of(st.lists(_WORDS, max_size=12).map(" ".join), st.text(max_size=30))


def _one_by_one(texts: list[str], analyzer: str) -> tuple[list[tuple[str, int, int, int]], int]:
    postings: list[tuple[str, int, int, int]] = []
    total = 0
    for index, text in enumerate(texts):
        analyzed = analyze(text, analyzer)
        total += analyzed.length
        postings.extend((t, index, tf, analyzed.length) for t, tf in analyzed.terms.items())
    return sorted(postings), total


@pytest.mark.parametrize("analyzer", ANALYZERS)
@settings(max_examples=150, deadline=None)
@given(texts=st.lists(_TEXTS, max_size=12))
def test_a_batch_has_the_postings_of_its_texts_analyzed_alone(
    analyzer: str, texts: list[str]
) -> None:
    batch = analyze_batch(texts, analyzer)
    got = list(zip(batch.terms, batch.texts, batch.tf, batch.lengths, strict=True))
    expected, total = _one_by_one(texts, analyzer)
    assert got == expected  # sorted by term, then by text: the order the B-tree fills in
    assert batch.total_length == total
    assert len(batch) == len(expected)


# ASCII-only batches take the one-string path (``text._analyze_joined``); texts holding its
# separator character, empty texts and texts of punctuation only are among them.
_ASCII_TEXTS = st.one_of(
    st.lists(
        st.sampled_from(["Cats", "cat", "the", "RUN", "x_1", "2", "\x01", "", "!"]), max_size=8
    ).map(" ".join),
    st.text(alphabet=st.characters(max_codepoint=127), max_size=30),
)


@pytest.mark.parametrize("analyzer", ANALYZERS)
@settings(max_examples=150, deadline=None)
@given(texts=st.lists(_ASCII_TEXTS, max_size=12))
def test_an_ascii_batch_has_the_postings_of_its_texts_analyzed_alone(
    analyzer: str, texts: list[str]
) -> None:
    batch = analyze_batch(texts, analyzer)
    got = list(zip(batch.terms, batch.texts, batch.tf, batch.lengths, strict=True))
    expected, total = _one_by_one(texts, analyzer)
    assert got == expected
    assert batch.total_length == total


@pytest.mark.parametrize(
    "texts",
    [["a\x01b", "c"], ["", "red fox", ""], ["!!", "x", "x x"], ["\x01", "\x01 \x01"]],
)
def test_ascii_batches_with_separators_and_empty_texts(texts: list[str]) -> None:
    arrays = analyze_batch_arrays(texts, "plain")
    assert arrays.lengths.tolist() == [analyze(t, "plain").length for t in texts]
    expected, _ = _one_by_one(texts, "plain")
    batch = analyze_batch(texts, "plain")
    assert list(zip(batch.terms, batch.texts, batch.tf, batch.lengths, strict=True)) == expected
