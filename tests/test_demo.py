"""`make demo` stays working: the demo runs on the shipped data and its checks hold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .harness import ROOT, run_demo


def example(name: str) -> ModuleType:
    """A script of examples/ imported as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


demo = example("demo.py")
demo_postgres = example("demo_postgres.py")


def test_latency_row_labels_percentiles_apart_from_throughput() -> None:
    # Nine fast searches and one slow one: p50 stays at 1 ms, the mean doubles.
    samples = [0.001] * 9 + [0.011]
    row = demo.latency_row("search, top 10", samples)
    assert dict(zip(demo.LATENCY_HEADERS, row, strict=True)) == {
        "call": "search, top 10",
        "runs": "10",
        "p50": "1.00 ms",
        "p95": "6.50 ms",
        "mean": "2.00 ms",
        "throughput": "500/s",  # 10 runs / 0.020 s in total: 1 / mean, not 1 / p50
    }
    text = demo.latency_table([row])
    header = text.splitlines()[0].split()
    assert header == ["call", "runs", "p50", "p95", "mean", "throughput"]
    assert "queries/s" not in text
    assert "runs / their total time" in demo.LATENCY_NOTE


def test_closing_says_what_happens_to_the_store() -> None:
    kept = demo.closing("sqlite:///demo-data/demo.db", 12.34, temporary=False)
    assert kept.startswith("Done in 12.3 s. The store stays at sqlite:///demo-data/demo.db;")
    gone = demo.closing("postgresql://postgres:@/postgres", 1.0, temporary=True)
    assert "stays" not in gone and "run the demo again" not in gone
    assert "is temporary: it is deleted when the demo ends" in gone


def test_demo_postgres_tells_the_demo_its_store_is_temporary() -> None:
    command = demo_postgres.demo_command("postgresql://x", ["--batch", "5000"])
    assert command[1:] == [
        str(ROOT / "examples" / "demo.py"),
        "--store",
        "postgresql://x",
        "--temporary-store",
        "--batch",
        "5000",
    ]
    assert "stays" not in demo_postgres.FAREWELL
    assert "stopped and its data directory deleted" in demo_postgres.FAREWELL


def test_demo_runs_on_the_shipped_data(tmp_path: Path) -> None:
    out = run_demo(f"sqlite:///{tmp_path}/demo.db")
    for header in [
        "1. Load",
        "2. Nearest glosses",
        "3. The same kind of search",
        "4. Tenant isolation",
        "5. search_many",
        "6. Latency",
    ]:
        assert header in out
    # The demo compares nighdb with numpy brute force: exact search must agree fully.
    assert out.count("1.000       50/50") == 2
    assert "globex results that are not globex's own rows: 0" in out
    assert (tmp_path / "demo.db").stat().st_size > 10_000_000
    latency = out[out.index("6. Latency") :]
    assert "  call  " in latency and "p50  " in latency and "throughput" in latency
    assert "queries/s" not in latency
    assert f"The store stays at sqlite:///{tmp_path}/demo.db;" in out
