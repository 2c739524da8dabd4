"""One phase of one system on one data set, in a fresh process (``python -m bench.child``).

Arguments: the context JSON file and the result JSON file to write. Progress goes to
stderr. The peak RSS of this process is the phase's peak RSS.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from .datasets import load
from .measure import Budget, peak_rss_mb
from .systems import Context, get


def context_from(spec: dict[str, Any]) -> Context:
    return Context(
        ds=load(Path(spec["dataset"])),
        workdir=Path(spec["workdir"]),
        pg_url=spec.get("pg_url"),
        budget=Budget(**spec["budget"]),
        batch=int(spec["batch"]),
        ef_search=tuple(spec["ef_search"]),
        hnsw_m=int(spec["hnsw_m"]),
        hnsw_ef_construction=int(spec["hnsw_ef_construction"]),
        latency_only=bool(spec.get("latency_only", False)),
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )


def main(argv: list[str]) -> int:
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text())
    ctx = context_from(spec)
    system = get(spec["system"])
    t = time.perf_counter()
    result = system.run(spec["phase"], ctx)
    result["phase_s"] = time.perf_counter() - t
    result["phase_rss_mb"] = peak_rss_mb()
    out_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
