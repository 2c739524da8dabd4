"""A service node like ``nigh serve``, with the store's ``timeout`` option set.

``python -m tests.reliability._node STORE_URL TIMEOUT``. ``nigh serve`` opens its store
with the default options (PostgreSQL: ``timeout=10``) and has no flag for them, so the outage
test runs the same app and server on a store opened with a small timeout. It prints the same
start line as ``nigh serve`` (``nigh serve: ... on http://127.0.0.1:PORT``).
"""

from __future__ import annotations

import socket
import sys

import uvicorn

import nighdb
from nighdb.service.app import create_app


def main() -> None:
    url, timeout = sys.argv[1], float(sys.argv[2])
    with nighdb.open_store(url, timeout=timeout, connect_timeout=max(1, int(timeout))) as store:
        app = create_app(store)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        print(f"nigh serve: test node on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr)
        sys.stderr.flush()
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
