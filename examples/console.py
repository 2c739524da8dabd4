"""The web console on the demo data: ``make console``.

Loads the 15,000 WordNet glosses of ``examples/data`` (the same as ``make demo``) into the
collection "glosses" of tenant "demo" (once: a store that already holds them is used as it
is), creates a new API key of that tenant, starts ``nigh serve`` on loopback and prints the
console's address and the key. Open the address, paste the key, click "glosses", then "Draw
map" and colour by ``pos`` or ``lexname``. Ctrl-C stops the server.

    .venv/bin/python examples/console.py                    # ./demo-data/console.db, port 8080
    .venv/bin/python examples/console.py --port 0           # any free port
    .venv/bin/python examples/console.py --store URL        # any SQLite or PostgreSQL store
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

from demo import DATA, GLOSSES, load_dataset, to_item

import nighdb

DEFAULT_STORE = "sqlite:///demo-data/console.db"
TENANT = "demo"
BATCH = 1_000
NIGH = str(Path(sys.executable).with_name("nigh"))


def ensure_glosses(url: str) -> None:
    """The demo collection, complete: loaded unless a previous run already did."""
    data = load_dataset(DATA)
    with nighdb.open_store(url) as store:
        store.ensure_collection(TENANT, GLOSSES)
        if store.count(TENANT, GLOSSES.name) == len(data.meta):
            print(f"{TENANT}/{GLOSSES.name}: {len(data.meta):,} items, already loaded")
            return
        for at in range(0, len(data.meta), BATCH):
            rows = range(at, min(at + BATCH, len(data.meta)))
            store.upsert(
                TENANT, GLOSSES.name, [to_item(data.vectors[i], data.meta[i]) for i in rows]
            )
        print(f"{TENANT}/{GLOSSES.name}: loaded {len(data.meta):,} items")


def nigh(*args: str) -> str:
    return subprocess.run([NIGH, *args], check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=DEFAULT_STORE, help=f"default {DEFAULT_STORE}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8080")
    args = parser.parse_args()

    ensure_glosses(args.store)
    key = json.loads(nigh("keys", "create", "--tenant", TENANT, "--json", "--store", args.store))
    command = [NIGH, "serve", "--store", args.store, "--host", args.host, "--port", args.port]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    # Stopped by a signal other than Ctrl-C, stop the server too (the finally below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    assert server.stderr is not None
    try:
        for line in server.stderr:  # the start line names the address (and a free port)
            sys.stderr.write(line)
            if line.startswith("nigh serve:"):
                address = line.rsplit(" on ", 1)[1].strip()
                print(f"\nconsole: {address}/console")
                print(f"API key of tenant {TENANT!r} (new, shown once): {key['key']}")
                print("(Ctrl-C stops the server)\n", flush=True)
                break
        for line in server.stderr:  # keep showing the server's log
            sys.stderr.write(line)
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=20)
    if server.returncode not in (0, -15):
        sys.exit(f"nigh serve stopped with exit code {server.returncode}")


if __name__ == "__main__":
    main()
