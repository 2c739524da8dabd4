"""Turn the children's phase results into rows, the issue's target ratios, and text tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .datasets import Dataset
from .systems import SYSTEMS

__all__ = ["assemble", "render", "targets"]

Row = dict[str, Any]

HNSW_RECALL = 0.95
HNSW_P50_MS = 1.5


def assemble(
    meta: dict[str, Any],
    datasets: Sequence[Dataset],
    phases: Sequence[dict[str, Any]],
    blas: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    rows: list[Row] = []
    errors = []
    for ds in datasets:
        for key, system in SYSTEMS.items():
            mine = {
                p["phase"]: p["result"]
                for p in phases
                if p["dataset"] == ds.name and p["system"] == key
            }
            if not mine:
                continue
            errors += [
                {"dataset": ds.name, "system": key, "phase": ph, "error": r["error"]}
                for ph, r in mine.items()
                if "error" in r
            ]
            ingest = mine.get("ingest", {})
            index = mine.get("index", {})
            for phase, result in mine.items():
                for variant, m in result.get("variants", {}).items():
                    row: Row = {
                        "dataset": ds.name,
                        "system": key,
                        "label": system.label,
                        "variant": variant,
                        "phase": phase,
                        "ingest_vps": ingest.get("ingest_vps"),
                        "ingest_s": ingest.get("ingest_s"),
                        "ingest_rss_mb": ingest.get("ingest_rss_mb"),
                        "disk_mb": _mb(ingest.get("disk_bytes")),
                        "search_rss_mb": result.get("phase_rss_mb"),
                        "load1": result.get("load1"),
                        **m,
                    }
                    if variant.startswith("HNSW"):
                        row["index_s"] = index.get("index_s")
                        row["index_mb"] = _mb(index.get("index_bytes"))
                    rows.append(row)
    out = {
        "meta": meta,
        "datasets": {
            ds.name: {k: v for k, v in ds.to_json().items() if k != "directory"} for ds in datasets
        },
        "rows": rows,
        "blas": list(blas),
        "errors": errors,
    }
    out["targets"] = {
        ds.name: targets(rows, ds.name) + blas_targets(blas, ds.name) for ds in datasets
    }
    return out


def _mb(value: Any) -> float | None:
    return None if value is None else float(value) / 1e6


def _find(rows: Sequence[Row], dataset: str, system: str, variant: str = "exact") -> Row | None:
    return next(
        (
            r
            for r in rows
            if r["dataset"] == dataset and r["system"] == system and r["variant"] == variant
        ),
        None,
    )


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or b is None or not b:
        return None
    return float(a) / float(b)


def _target(
    name: str, value: float | None, limit: float, op: str, detail: str = ""
) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        status = "n/a"
    else:
        ok = {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[op]
        status = "PASS" if ok else "SHORT"
    return {
        "target": name,
        "value": value,
        "limit": f"{op} {limit:g}",
        "status": status,
        "detail": detail,
    }


def targets(rows: Sequence[Row], ds: str) -> list[dict[str, Any]]:
    """The issue's targets, each a ratio measured in this run on data set ``ds``."""
    out = []
    qs = _find(rows, ds, "nigh-sqlite")
    npy = _find(rows, ds, "numpy")
    plain = _find(rows, ds, "sqlite-vec")
    raw_pg = _find(rows, ds, "pgvector")
    qpg = _find(rows, ds, "nigh-pg")
    if qs and npy:
        out.append(
            _target(
                "embedded exact p50 / numpy p50",
                _ratio(qs["p50_ms"], npy["p50_ms"]),
                2.0,
                "<=",
                f"{qs['p50_ms']:.2f} ms vs {npy['p50_ms']:.2f} ms",
            )
        )
    if qs:
        for f in ("f10", "f1"):
            if f in qs:
                out.append(
                    _target(
                        f"embedded filtered ({qs[f]['selectivity']:.1%}) p50 / unfiltered p50",
                        _ratio(qs[f]["p50_ms"], qs["p50_ms"]),
                        1.0,
                        "<=",
                        f"{qs[f]['p50_ms']:.2f} ms vs {qs['p50_ms']:.2f} ms",
                    )
                )
        out.append(
            _target(
                "embedded peak RSS, serving (MB)",
                qs.get("search_rss_mb"),
                700,
                "<",
                f"ingest process {qs.get('ingest_rss_mb') or 0:.0f} MB (holds the input array)",
            )
        )
        if plain:
            out.append(
                _target(
                    "embedded ingest / sqlite-vec plain insert",
                    _ratio(qs["ingest_vps"], plain["ingest_vps"]),
                    1.0,
                    ">=",
                    f"{qs['ingest_vps']:,.0f} vs {plain['ingest_vps']:,.0f} vectors/s",
                )
            )
        if "many_speedup" in qs:
            out.append(
                _target(
                    "embedded search_many(100) / 100 single searches",
                    qs["many_speedup"],
                    5.0,
                    ">=",
                    f"{qs['many_qps']:,.0f} vs {qs['single_qps']:,.0f} queries/s",
                )
            )
    if qpg and raw_pg:
        paired = qpg.get("paired_raw")
        separate = (
            f"separate runs: {qpg['p50_ms']:.2f} ms vs {raw_pg['p50_ms']:.2f} ms "
            f"({_ratio(qpg['p50_ms'], raw_pg['p50_ms']):.2f}x)"
        )
        if paired:
            out.append(
                _target(
                    "postgres exact p50 / raw psycopg p50 (paired, query by query)",
                    paired["ratio"],
                    1.1,
                    "<=",
                    f"{paired['ours_p50_ms']:.2f} ms vs {paired['theirs_p50_ms']:.2f} ms; "
                    + separate,
                )
            )
        else:
            out.append(
                _target(
                    "postgres exact p50 / raw psycopg p50",
                    _ratio(qpg["p50_ms"], raw_pg["p50_ms"]),
                    1.1,
                    "<=",
                    separate,
                )
            )
        out.append(
            _target(
                "postgres ingest / raw COPY",
                _ratio(qpg["ingest_vps"], raw_pg["ingest_vps"]),
                0.9,
                ">=",
                f"{qpg['ingest_vps']:,.0f} vs {raw_pg['ingest_vps']:,.0f} vectors/s",
            )
        )
    if qpg and "many_speedup" in qpg:
        out.append(
            _target(
                "postgres exact search_many(100) / 100 single searches",
                qpg["many_speedup"],
                5.0,
                ">=",
                f"{qpg['many_qps']:,.0f} vs {qpg['single_qps']:,.0f} queries/s",
            )
        )
    out += _hnsw_targets(rows, ds)
    return out


def blas_targets(blas: Sequence[dict[str, Any]], ds: str) -> list[dict[str, Any]]:
    """The first target again from the BLAS runs (back-to-back, latency only), per setting."""
    out = []
    for threads in ("default", "1"):
        for core in ("idle", "busy"):
            pair = {
                b["system"]: b
                for b in blas
                if b["dataset"] == ds and b["threads"] == threads and b["other_core"] == core
            }
            if "numpy" in pair and "nigh-sqlite" in pair:
                q, n = pair["nigh-sqlite"]["p50_ms"], pair["numpy"]["p50_ms"]
                out.append(
                    _target(
                        f"embedded exact p50 / numpy p50, OPENBLAS_NUM_THREADS={threads}, "
                        f"other core {core}",
                        _ratio(q, n),
                        2.0,
                        "<=",
                        f"{q:.2f} ms vs {n:.2f} ms",
                    )
                )
    return out


def _paired_note(row: Row) -> str:
    paired = row.get("paired_raw")
    if not paired:
        return ""
    return (
        f"; paired with raw SQL at the same ef: {paired['ours_p50_ms']:.2f} vs "
        f"{paired['theirs_p50_ms']:.2f} ms ({paired['ratio']:.2f}x)"
    )


def _hnsw_targets(rows: Sequence[Row], ds: str) -> list[dict[str, Any]]:
    hnsw = sorted(
        (
            r
            for r in rows
            if r["dataset"] == ds and r["system"] == "nigh-pg" and r["variant"].startswith("HNSW")
        ),
        key=lambda r: int(r["variant"].split("=")[1]),
    )
    if not hnsw:
        return []
    # The cheapest ef_search that reaches the recall target (else the most accurate one).
    good = [r for r in hnsw if r["recall"] >= HNSW_RECALL]
    pick = good[0] if good else max(hnsw, key=lambda r: r["recall"])
    out = [
        _target(
            f"postgres HNSW p50 (ms) at recall@10 >= {HNSW_RECALL}",
            pick["p50_ms"] if good else None,
            HNSW_P50_MS,
            "<=",
            f"{pick['variant']}: recall {pick['recall']:.3f}, p50 {pick['p50_ms']:.2f} ms"
            + _paired_note(pick),
        )
    ]
    if pick["variant"] and not good:
        out[0]["status"] = "SHORT"
    for f in ("f10", "f1"):
        if f not in pick:
            continue
        m = pick[f]
        t = _target(
            f"postgres HNSW filtered ({m['selectivity']:.1%}) recall@10, min(limit, matches)",
            m["recall"],
            HNSW_RECALL,
            ">=",
            f"{pick['variant']}: p50 {m['p50_ms']:.2f} ms, count ok {m['count_ok']}",
        )
        if not m["count_ok"]:
            t["status"] = "SHORT"
        out.append(t)
    many = pick.get("many_speedup")
    if many is not None:
        out.append(
            _target(
                "postgres HNSW search_many(100) / 100 single searches",
                many,
                5.0,
                ">=",
                f"{pick['variant']}: {pick['many_qps']:,.0f} vs "
                f"{pick['single_qps']:,.0f} queries/s",
            )
        )
    return out


# -- text ---------------------------------------------------------------------------------


def _f(value: Any, fmt: str, missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, fmt)


def _name(row: Row) -> str:
    variant = row["variant"]
    name = row["label"] if variant == "exact" else f"{row['label']}: {variant}"
    return f"{name} ({row['note']})" if row.get("note") else name


COLUMNS = (
    ("system", "<", 66),
    ("ingest/s", ">", 9),
    ("build s", ">", 7),
    ("1st ms", ">", 7),
    ("p50 ms", ">", 8),
    ("p95 ms", ">", 8),
    ("R@10", ">", 6),
    ("many q/s", ">", 9),
    ("xsingle", ">", 7),
    ("f10 p50", ">", 8),
    ("f10 R", ">", 6),
    ("f1 p50", ">", 8),
    ("f1 R", ">", 6),
    ("cnt", ">", 4),
    ("RSS MB", ">", 7),
    ("disk MB", ">", 8),
)


def _cells(row: Row, first_of_system: bool) -> list[str]:
    f10, f1 = row.get("f10", {}), row.get("f1", {})
    counts = [m.get("count_ok") for m in (f10, f1) if m]
    return [
        _name(row),
        _f(row["ingest_vps"], ",.0f") if first_of_system else "",
        _f(row.get("index_s"), ".1f", ""),
        _f(row.get("first_ms"), ".1f"),
        _f(row.get("p50_ms"), ".2f"),
        _f(row.get("p95_ms"), ".2f"),
        _f(row.get("recall"), ".3f"),
        _f(row.get("many_qps"), ",.0f"),
        _f(row.get("many_speedup"), ".1f"),
        _f(f10.get("p50_ms"), ".2f"),
        _f(f10.get("recall"), ".3f"),
        _f(f1.get("p50_ms"), ".2f"),
        _f(f1.get("recall"), ".3f"),
        ("ok" if all(counts) else "NO") if counts else "-",
        _f(row.get("search_rss_mb"), ".0f"),
        _f(row["disk_mb"], ",.0f") if first_of_system else "",
    ]


def table(rows: Sequence[Row], markdown: bool = False) -> str:
    lines = []
    if markdown:
        lines.append("| " + " | ".join(c[0] for c in COLUMNS) + " |")
        lines.append("|" + "|".join("---" if c[1] == "<" else "---:" for c in COLUMNS) + "|")
    else:
        lines.append("  ".join(format(c[0], f"{c[1]}{c[2]}") for c in COLUMNS))
    seen: set[str] = set()
    for row in rows:
        cells = _cells(row, row["system"] not in seen)
        seen.add(row["system"])
        if markdown:
            lines.append("| " + " | ".join(cells) + " |")
        else:
            lines.append(
                "  ".join(format(v, f"{c[1]}{c[2]}") for v, c in zip(cells, COLUMNS, strict=True))
            )
    return "\n".join(lines)


def target_table(items: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    lines = []
    if markdown:
        lines += ["| target | measured | limit | status | detail |", "|---|---:|---|---|---|"]
    for t in items:
        value = _f(t["value"], ".3g", "n/a")
        if markdown:
            lines.append(
                f"| {t['target']} | {value} | {t['limit']} | **{t['status']}** | {t['detail']} |"
            )
        else:
            lines.append(
                f"  {t['status']:<5}  {t['target']:<62} {value:>8}  ({t['limit']})  {t['detail']}"
            )
    return "\n".join(lines)


def blas_table(items: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    lines = []
    if markdown:
        lines += [
            "| data set | system | OPENBLAS_NUM_THREADS | other core | p50 ms | p95 ms |",
            "|---|---|---|---|---:|---:|",
        ]
    for b in items:
        cells = [
            b["dataset"],
            SYSTEMS[b["system"]].label,
            b["threads"],
            b["other_core"],
            _f(b["p50_ms"], ".2f"),
            _f(b["p95_ms"], ".2f"),
        ]
        if markdown:
            lines.append("| " + " | ".join(cells) + " |")
        else:
            lines.append(
                f"  {cells[0]:<18} {cells[1]:<32} threads={cells[2]:<8} "
                f"other core {cells[3]:<5} p50 {cells[4]:>8} ms  p95 {cells[5]:>8} ms"
            )
    return "\n".join(lines)


def render(results: dict[str, Any], markdown: bool = False) -> str:
    out = []
    for name, info in results["datasets"].items():
        rows = [r for r in results["rows"] if r["dataset"] == name]
        if not rows:
            continue
        head = f"{name}: {info['count']:,} x {info['dims']}, top-10, filters " + ", ".join(
            f"{f['name']} = {f['field']} {'=' if f['op'] == 'eq' else '<'} {f['value']!r} "
            f"({f['selectivity']:.1%})"
            for f in info["filters"]
        )
        out += ["", f"## {head}" if markdown else f"== {head}", "", table(rows, markdown), ""]
        items = results["targets"].get(name, [])
        if items:
            out += [
                "Targets (issue 6):",
                "",
                target_table(items, markdown),
                "",
            ]
    if results["blas"]:
        out += [
            "",
            "BLAS threads, single-query p50 (latency only):",
            "",
            blas_table(results["blas"], markdown),
        ]
    for e in results["errors"]:
        out.append(f"ERROR: {e['dataset']} {e['system']} {e['phase']}: {e['error']}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.report RESULTS.json [--markdown]``: the tables of a finished run."""
    import argparse
    import json
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m bench.report")
    p.add_argument("results", type=Path)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    print(render(json.loads(args.results.read_text()), markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
