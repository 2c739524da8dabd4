"""``make console`` (``examples/console.py``): the demo data loaded into a store, a new key of
tenant "demo" printed with the console's address, and a real ``nigh serve`` behind them that
the key opens; stopping the script stops the server."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import httpx

from .harness import ROOT, ServeNode


def test_make_console_serves_the_demo_data(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'console.db'}"
    script = str(ROOT / "examples" / "console.py")
    with ServeNode([sys.executable, script, "--store", store, "--port", "0"]) as node:
        deadline = time.monotonic() + 30
        while "API key of tenant" not in node.text():
            assert time.monotonic() < deadline, node.text()
            time.sleep(0.1)
        log = node.text()
        assert f"console: {node.url}/console" in log
        found = re.search(r"API key of tenant 'demo' \(new, shown once\): (\S+)", log)
        assert found, log
        key = {"Authorization": f"Bearer {found[1]}"}
        with httpx.Client(base_url=node.url, timeout=30) as http:
            assert http.get("/console").status_code == 200
            assert http.get("/v1/whoami", headers=key).json() == {"tenant": "demo", "admin": False}
            collections = http.get("/v1/collections", headers=key).json()["collections"]
            assert [(c["name"], c["count"], c["dimensions"]) for c in collections] == [
                ("glosses", 15_000, 384)
            ]
    assert node.proc.returncode == 0, node.text()  # SIGTERM: the script stopped its server
    try:
        httpx.get(f"{node.url}/healthz", timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("nigh serve still answers after the console script stopped")
