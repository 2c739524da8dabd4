"""The PNG chart: search latency against recall@10 per data set, and ingest rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["draw"]

COLORS = {
    "numpy": "#444444",
    "sqlite-vec": "#8c6d31",
    "vec0": "#bd9e39",
    "nigh-sqlite": "#1f77b4",
    "pgvector": "#d62728",
    "nigh-pg": "#2ca02c",
}


def draw(results: dict[str, Any], path: Path) -> None:
    rows = results["rows"]
    names = [n for n in results["datasets"] if any(r["dataset"] == n for r in rows)]
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(6 * (len(names) + 1), 5.2), squeeze=False)
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
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
                    xytext=(3, -9),
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
    ax.legend(fontsize=7, loc="lower right")


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
    ax.set_title("ingest, batches of 10,000, durable commits")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7)
