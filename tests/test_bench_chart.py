"""The benchmark chart's labels never overlap, and docs/benchmarks.png is drawn from the page.

Every piece of text the figure draws (title, axis labels, tick labels, point labels, legend
entries) is measured after layout; no two boxes may intersect, and all stay on the canvas.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from bench.chart import figure
from bench.doc_results import parse
from matplotlib.figure import Figure
from matplotlib.text import Text

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks.md"


def drawn_texts(fig: Figure) -> list[Text]:
    """Every non-empty text the canvas shows (tick labels only for ticks in view)."""
    fig.canvas.draw()
    texts: list[Text] = [t for t in fig.texts if t.get_text()]
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis, limits, coordinate in (
            (ax.xaxis, sorted(ax.get_xlim()), 0),
            (ax.yaxis, sorted(ax.get_ylim()), 1),
        ):
            for label in axis.get_ticklabels() + axis.get_ticklabels(minor=True):
                at = label.get_position()[coordinate]
                if limits[0] <= at <= limits[1]:
                    texts.append(label)
        legend = ax.get_legend()
        if legend is not None:
            texts += legend.get_texts()
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def overlaps(fig: Figure) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_texts(fig)]
    return [
        (a, b)
        for (a, box_a), (b, box_b) in combinations(boxes, 2)
        if box_a.x0 < box_b.x1
        and box_b.x0 < box_a.x1
        and box_a.y0 < box_b.y1
        and box_b.y0 < box_a.y1
    ]


def off_canvas(fig: Figure) -> list[str]:
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    canvas = fig.bbox
    out = []
    for t in drawn_texts(fig):
        box = t.get_window_extent(renderer)
        if box.x0 < canvas.x0 or box.y0 < canvas.y0 or box.x1 > canvas.x1 or box.y1 > canvas.y1:
            out.append(t.get_text())
    return out


def crowded() -> dict[str, Any]:
    """Two systems whose HNSW points coincide: the worst case for the ef labels."""
    rows = []
    for system, label in (("pgvector", "pgvector raw SQL"), ("nigh-pg", "nighdb postgres")):
        rows.append(
            {
                "dataset": "d",
                "system": system,
                "label": label,
                "variant": "exact",
                "p50_ms": 30.0,
                "recall": 1.0,
                "ingest_vps": 50_000.0,
            }
        )
        for ef, p50, recall in ((32, 1.0, 0.95), (64, 1.05, 0.951), (128, 1.1, 0.952)):
            rows.append(
                {
                    "dataset": "d",
                    "system": system,
                    "label": label,
                    "variant": f"HNSW ef={ef}",
                    "p50_ms": p50,
                    "recall": recall,
                    "ingest_vps": 50_000.0,
                }
            )
    return {
        "meta": {"started": "now", "machine": {"nproc": 2, "cpu": "test"}},
        "datasets": {"d": {"count": 1000, "dims": 8}},
        "rows": rows,
    }


@pytest.mark.parametrize("source", ["docs/benchmarks.md", "crowded"])
def test_no_two_labels_overlap(source: str) -> None:
    results = crowded() if source == "crowded" else parse(PAGE.read_text(encoding="utf-8"))
    fig = figure(results)
    try:
        assert overlaps(fig) == []
        assert off_canvas(fig) == []
    finally:
        plt.close(fig)


def test_the_page_tables_give_the_charted_rows() -> None:
    results = parse(PAGE.read_text(encoding="utf-8"))
    assert results["datasets"] == {
        "wordnet": {"count": 15_000, "dims": 384},
        "synthetic-100k": {"count": 100_000, "dims": 384},
    }
    by = {(r["dataset"], r["system"], r["variant"]): r for r in results["rows"]}
    ours = by[("synthetic-100k", "nigh-sqlite", "exact")]
    assert (ours["p50_ms"], ours["recall"], ours["ingest_vps"]) == (7.55, 1.0, 75_346.0)
    hnsw = by[("wordnet", "nigh-pg", "HNSW ef=32")]
    assert (hnsw["p50_ms"], hnsw["recall"], hnsw["ingest_vps"]) == (0.90, 0.98, 32_632.0)
    assert len(results["rows"]) == 2 * 14
