"""Store URLs for the framework adapters' tests: one per backend, each a real database.

The adapters take a URL, not a store object, so the remote backend here is a real ``nigh
serve`` app on a loopback port (``ThreadedServer``) reached with a tenant key in the URL.
A server per test module keeps the standard suites fast; every test still starts empty
because it gets a collection of its own (``fresh_collection``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import pg_server

ADAPTER_BACKENDS = ["sqlite", "postgres", "remote"]
TENANT = "acme"


def fresh_collection() -> str:
    return f"docs-{uuid.uuid4().hex[:12]}"


class AdapterURLs:
    """``url(backend)``: the store URL of a backend, made on first use."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._urls: dict[str, str] = {}
        self._servers: list[object] = []

    def url(self, backend: str) -> str:
        if backend not in self._urls:
            self._urls[backend] = self._make(backend)
        return self._urls[backend]

    def _make(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self._directory / 'adapters.db'}"
        if backend == "postgres":
            return pg_server.url_for(self._directory)
        if backend == "remote":
            from .service_support import ThreadedServer

            server = ThreadedServer(f"sqlite:///{self._directory / 'served.db'}")
            self._servers.append(server)
            key = server.create_key(tenant=TENANT)
            return server.url.replace("http://", f"http://{key}@", 1)
        raise AssertionError(f"unknown backend {backend}")

    def close(self) -> None:
        for server in self._servers:
            server.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def adapter_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdapterURLs]:
    urls = AdapterURLs(tmp_path_factory.mktemp("adapters"))
    yield urls
    urls.close()
