"""The PNG chart: search latency against recall@10 per data set, and ingest rates.

No two labels may overlap: the legends sit below their plots, and the ``ef`` labels of the
HNSW points, which crowd where two systems reach the same recall at the same speed, are
moved apart after the layout is known (``_separate``). tests/test_bench_chart.py checks the
text boxes of the drawn figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Annotation

__all__ = ["draw", "figure"]

COLORS = {
    "numpy": "#444444",
    "sqlite-vec": "#8c6d31",
    "vec0": "#bd9e39",
    "nigh-sqlite": "#1f77b4",
    "pgvector": "#d62728",
    "nigh-pg": "#2ca02c",
}
GAP_PX = 2.0  # the least room between two labels, in pixels


def draw(results: dict[str, Any], path: Path) -> None:
    fig = figure(results)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure(results: dict[str, Any]) -> Figure:
    """The chart of one run's results (as ``bench.report.assemble`` returns them)."""
    rows = results["rows"]
    names = [n for n in results["datasets"] if any(r["dataset"] == n for r in rows)]
    fig, axes = plt.subplots(
        1, len(names) + 1, figsize=(6 * (len(names) + 1), 6.4), squeeze=False, dpi=110
    )
    for ax, name in zip(axes[0], names, strict=False):
        _latency_recall(
            ax, [r for r in rows if r["dataset"] == name], name, results["datasets"][name]
        )
    _ingest(axes[0][-1], rows, names)
    started = results["meta"]["started"]
    machine = results["meta"]["machine"]
    fig.suptitle(
        f"nighdb bench {started}: {machine['nproc']} cpus, {machine['cpu']}; "
        "top-10, one query at a time, warm"
    )
    fig.tight_layout()
    for ax in axes[0]:
        _separate(fig, ax)
    return fig


def _latency_recall(ax: Any, rows: list[dict[str, Any]], name: str, info: dict[str, Any]) -> None:
    by_system: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if "p50_ms" in r and r.get("recall") is not None:
            by_system.setdefault(r["system"], []).append(r)
    for system, items in by_system.items():
        color = COLORS.get(system, "black")
        hnsw = sorted(
            (r for r in items if r["variant"].startswith("HNSW")),
            key=lambda r: int(r["variant"].split("=")[1]),
        )
        if hnsw:
            ax.plot(
                [r["p50_ms"] for r in hnsw],
                [r["recall"] for r in hnsw],
                "-o",
                color=color,
                label=f"{items[0]['label']} HNSW",
            )
            for r in hnsw:
                ax.annotate(
                    r["variant"].split(" ")[1],
                    (r["p50_ms"], r["recall"]),
                    fontsize=7,
                    xytext=(4, -10),
                    textcoords="offset points",
                    color=color,
                )
        for r in items:
            if r["variant"].startswith("HNSW") or "via psycopg" in r["variant"]:
                continue
            marker = "s" if r["variant"] == "exact" else "D"
            label = items[0]["label"] + ("" if r["variant"] == "exact" else f" {r['variant']}")
            ax.scatter(
                [r["p50_ms"]], [r["recall"]], color=color, marker=marker, label=label, zorder=3
            )
    ax.set_xscale("log")
    ax.set_xlabel("search p50 latency (ms, log scale)")
    ax.set_ylabel("recall@10")
    ax.set_title(f"{name} ({info['count']:,} x {info['dims']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.08, y=0.12)
    _legend_below(ax)


def _ingest(ax: Any, rows: list[dict[str, Any]], names: list[str]) -> None:
    systems = [s for s in COLORS if any(r["system"] == s and r.get("ingest_vps") for r in rows)]
    width = 0.8 / max(1, len(systems))
    for i, system in enumerate(systems):
        values = []
        for name in names:
            row = next((r for r in rows if r["dataset"] == name and r["system"] == system), None)
            values.append(row["ingest_vps"] if row and row.get("ingest_vps") else 0.0)
        label = next(r["label"] for r in rows if r["system"] == system)
        ax.bar(
            [j + i * width for j in range(len(names))],
            values,
            width,
            label=label,
            color=COLORS[system],
        )
    ax.set_xticks([j + width * (len(systems) - 1) / 2 for j in range(len(names))], names)
    ax.set_ylabel("ingest (vectors/s)")
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.set_title("ingest, batches of 10,000, durable commits")
    ax.grid(True, axis="y", alpha=0.3)
    _legend_below(ax)


def _legend_below(ax: Any) -> None:
    """The legend under the plot, outside the data, in one column of short lines."""
    ax.legend(
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=1,
        frameon=False,
    )


def _separate(fig: Figure, ax: Any) -> None:
    """Move the axes' point labels apart until no two boxes intersect.

    Labels are placed one by one, top first. A label that meets one already placed is moved
    to the nearest free slot straight below or above its spot (whole label heights, below
    first), preferring slots inside the axes.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    labels = [t for t in ax.texts if isinstance(t, Annotation) and t.get_text()]
    labels.sort(key=lambda t: -t.get_window_extent(renderer).y1)
    area = ax.get_window_extent(renderer)
    placed: list[Any] = []
    for label in labels:
        box = label.get_window_extent(renderer)
        step = box.height + GAP_PX
        shifts = [0.0] + [
            sign * k * step for k in range(1, 4 * len(labels) + 2) for sign in (-1, 1)
        ]
        free = [dy for dy in shifts if not any(_hits(box.translated(0, dy), p) for p in placed)]
        inside = [dy for dy in free if area.y0 <= box.y0 + dy and box.y1 + dy <= area.y1]
        dy = (inside or free)[0]
        if dy:
            x, y = label.xyann
            label.xyann = (x, y + dy * 72.0 / fig.dpi)  # offsets are in points
        placed.append(box.translated(0, dy))


def _hits(a: Any, b: Any) -> bool:
    return bool(
        a.x0 < b.x1 + GAP_PX
        and b.x0 < a.x1 + GAP_PX
        and a.y0 < b.y1 + GAP_PX
        and b.y0 < a.y1 + GAP_PX
    )
