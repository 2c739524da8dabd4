"""The labelled retrieval set of bench/textqual.py loads whole and consistent, and the quality
script runs end to end on a small slice (real SQLite file, real searches; about 3 s)."""

from __future__ import annotations

import numpy as np
import pytest
from bench import textqual
from bench.textqual_build import item_text, parse_synset

# A real line of WordNet 3.0's data.verb (pointers and all), as the builder reads it.
STONEWALL = (
    "01034950 32 v 01 stonewall 0 003 @ 02557199 v 0000 + 10659571 n 0101 + 01075893 n 0101"
    ' 03 + 02 00 + 08 00 + 09 00 | obstruct or hinder any discussion; "Nixon stonewalled the'
    ' Watergate investigation"; "When she doesn\'t like to face a problem, she simply'
    ' stonewalls"  \n'
)


def test_a_wordnet_line_becomes_an_item_and_its_examples() -> None:
    synset = parse_synset(STONEWALL)
    assert synset is not None
    assert synset["id"] == "01034950-v"
    assert item_text(synset) == "stonewall: obstruct or hinder any discussion"
    assert synset["examples"] == [
        "Nixon stonewalled the Watergate investigation",
        "When she doesn't like to face a problem, she simply stonewalls",
    ]


def test_the_committed_set_loads_whole_and_consistent() -> None:
    data = textqual.load()
    assert (len(data.items), len(data.queries)) == (5000, 1000)
    assert data.item_vectors.shape == (5000, 384)
    assert data.query_vectors.shape == (1000, 384)
    norms = np.linalg.norm(np.vstack([data.item_vectors, data.query_vectors]), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3)
    ids = [item["id"] for item in data.items]
    assert len(set(ids)) == len(ids)
    assert set(data.relevant) <= set(ids)
    texts = {item["id"]: item["text"] for item in data.items}
    # The query (the synset's usage example) is never part of the item's own text.
    assert all(q not in texts[r] for q, r in zip(data.queries, data.relevant, strict=True))


def test_a_slice_keeps_every_querys_answer() -> None:
    data = textqual.load(queries=30, items=50)
    ids = {item["id"] for item in data.items}
    assert len(data.queries) == 30
    assert set(data.relevant) <= ids
    assert 50 <= len(ids) <= 80


def test_scores_count_ranks_within_the_top_ten() -> None:
    quality = textqual.score([["a", "b"], ["c"], []], ["b", "x", "y"])
    assert quality.recall == pytest.approx(1 / 3)
    assert quality.mrr == pytest.approx(0.5 / 3)


def test_the_quality_script_runs_on_a_slice(capsys: pytest.CaptureFixture[str]) -> None:
    assert textqual.main(["--queries", "20", "--items", "200"]) == 0
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ")
    }
    expected = {"vector", "text plain", "text english"}
    expected |= {f"hybrid {a} {w}" for a in textqual.ANALYZERS for w in textqual.WEIGHTS}
    assert expected <= set(rows)


def test_both_legs_find_the_answers_of_a_slice() -> None:
    data = textqual.load(queries=20, items=200)
    with textqual.sqlite_store() as store:
        rankings = textqual.rank_all(store, data)
    # Misaligned vectors or texts would find almost nothing among 200+ items.
    for run in ("vector", "text english", "hybrid english 0.5"):
        assert textqual.score(rankings[run], data.relevant).recall >= 0.6, run
