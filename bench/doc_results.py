"""The chart of the run docs/benchmarks.md records, redrawn from that page's own tables.

A run's results JSON (``bench/results/``) is not committed, so ``docs/benchmarks.png`` is
redrawn from the numbers the page publishes: the "Full tables" of the data sets of the main
run (wordnet and synthetic-100k; the 1M rows come from another run and are left out, as in
the original chart). Only the columns the chart uses are read: the system and variant, p50,
recall@10 and the ingest rate.

    python -m bench.doc_results docs/benchmarks.md docs/benchmarks.png
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["RUN", "parse"]

# The systems' labels as the report prints them (bench/systems), longest first.
LABELS = {
    "numpy brute force (in memory)": "numpy",
    "sqlite-vec plain table (vec_distance_cosine scan)": "sqlite-vec",
    "sqlite-vec vec0 virtual table": "vec0",
    "nighdb sqlite": "nigh-sqlite",
    "pgvector raw SQL (psycopg)": "pgvector",
    "nighdb postgres": "nigh-pg",
}
# The run the page records (its "The runs recorded here"), as the original chart's title
# named it.
RUN = {"started": "2026-11-24T19:45:46+00:00", "machine": {"nproc": 2, "cpu": "AMD EPYC"}}
DATASETS = ("wordnet", "synthetic-100k")
HEADING = re.compile(r"^### (?P<name>[\w-]+): (?P<count>[\d,]+) x (?P<dims>\d+),")


def parse(markdown: str, datasets: Sequence[str] = DATASETS) -> dict[str, Any]:
    """The part of a results document (``bench.report.assemble``) the chart draws."""
    text = markdown.split("\n## Full tables", 1)[1]
    rows: list[dict[str, Any]] = []
    infos: dict[str, dict[str, Any]] = {}
    current: str | None = None
    columns: list[str] = []  # the header of the current table, if it is a systems table
    previous: list[str] = []
    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading:
            name = heading["name"]
            current = name if name in datasets else None
            if current:
                count = int(heading["count"].replace(",", ""))
                infos[current] = {"count": count, "dims": int(heading["dims"])}
            columns = previous = []
            continue
        if current is None or not line.startswith("|"):
            columns = previous = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(c and set(c) <= {"-", ":"} for c in cells):  # the rule under a header
            columns = previous if previous[:1] == ["system"] else []
        elif columns:
            rows.append(_row(current, dict(zip(columns, cells, strict=True))))
        previous = cells
    missing = [d for d in datasets if d not in infos]
    if missing:
        raise ValueError(f"no full table for {', '.join(missing)}")
    # Ingest is measured once per system and data set: the page prints it on the first row.
    for r in rows:
        if r["ingest_vps"] is None:
            first = next(
                f for f in rows if f["dataset"] == r["dataset"] and f["system"] == r["system"]
            )
            r["ingest_vps"] = first["ingest_vps"]
    return {"meta": RUN, "datasets": {d: infos[d] for d in datasets}, "rows": rows}


def _row(dataset: str, cells: dict[str, str]) -> dict[str, Any]:
    name = cells["system"]
    label = next((lb for lb in sorted(LABELS, key=len, reverse=True) if name.startswith(lb)), None)
    if label is None:
        raise ValueError(f"unknown system in {dataset}'s table: {name!r}")
    variant = name[len(label) :].removeprefix(":").strip() or "exact"
    return {
        "dataset": dataset,
        "system": LABELS[label],
        "label": label,
        "variant": variant,
        "p50_ms": _number(cells["p50 ms"]),
        "recall": _number(cells["R@10"]),
        "ingest_vps": _number(cells["ingest/s"]),
    }


def _number(cell: str) -> float | None:
    cell = cell.replace(",", "")
    return None if cell in ("", "-") else float(cell)


def main(argv: Sequence[str] | None = None) -> int:
    from .chart import draw

    p = argparse.ArgumentParser(prog="python -m bench.doc_results", description=__doc__)
    p.add_argument("markdown", type=Path, help="docs/benchmarks.md")
    p.add_argument("png", type=Path, help="where to write the chart")
    args = p.parse_args(argv)
    draw(parse(args.markdown.read_text(encoding="utf-8")), args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
