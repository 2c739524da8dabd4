"""``analyze_batch``, the ingest path's analysis, against ``analyze`` of each text alone: the
same postings (term, text, tf, length) and total length, so batching changes no result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nighdb.text import ANALYZERS, analyze, analyze_batch

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
