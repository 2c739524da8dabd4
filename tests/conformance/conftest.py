"""Fixtures of the conformance suite that the shared ``tests/conftest.py`` does not provide."""

from __future__ import annotations

from pathlib import Path

import pytest

import nighdb

from .. import pg_server, pgbouncer


@pytest.fixture
def store_url(backend: str, tmp_path: Path, store: nighdb.Store) -> str:
    """A URL for ``nighdb.open_store`` that reaches the ``store`` fixture's database.

    Only tests that need several OS processes on one database use it. Every backend must add
    its branch here (the tests then check that the child processes really share ``store``'s
    data, so a wrong URL fails loudly).
    """
    if backend in ("sqlite", "sqlite-stream", "sqlite-async-int8", "sqlite-indexed"):
        # tests/conftest.py opens f"sqlite:///{tmp_path / 'store.db'}"; tmp_path is absolute.
        # (The children use the sync API; the async twin wraps the same file.)
        return f"sqlite:///{tmp_path / 'store.db'}"
    if backend in ("postgres", "postgres-async", "postgres-indexed"):
        return pg_server.url_for(tmp_path)  # the same schema as the ``store`` fixture's
    if backend == "postgres-pgbouncer":
        return pgbouncer.url_for(tmp_path)  # the same role and schema, through PgBouncer
    if backend in ("remote", "remote-indexed"):
        # A real loopback server on the ``store`` fixture's SQLite file (stopped when that
        # store closes); the URL carries the store's admin key (http://KEY@127.0.0.1:PORT).
        return str(store.serve_on_loopback())  # type: ignore[attr-defined]
    raise AssertionError(
        f"no store_url for backend {backend!r}: add a branch to tests/conformance/conftest.py"
    )
