"""`make demo` stays working: the demo runs on the shipped data and its checks hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_on_the_shipped_data(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "demo.py"),
            "--store",
            f"sqlite:///{tmp_path}/demo.db",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
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
