"""`make demo-postgres` works: the demo runs on PostgreSQL and its exactness checks hold.

The demo itself runs against the session's server (a schema of its own) rather than the
server ``examples/demo_postgres.py`` would start, which is the same program plus a start-up.
"""

from __future__ import annotations

from pathlib import Path

from .harness import run_demo
from .pg_server import url_for


def test_demo_runs_on_postgres(tmp_path: Path) -> None:
    out = run_demo(url_for(tmp_path), "--temporary-store")  # what demo_postgres.py passes
    for header in ["1. Load", "2. Nearest glosses", "4. Tenant isolation", "6. Latency"]:
        assert header in out
    # nighdb against numpy brute force on 15,000 real 384-d vectors: exact, same order.
    assert out.count("1.000       50/50") == 2
    assert "globex results that are not globex's own rows: 0" in out
    # The store is deleted afterwards: the demo must not claim it stays (finding 6).
    assert "stays" not in out and "is temporary: it is deleted when the demo ends" in out
