"""The server goes away and comes back: calls fail fast and coded, then the same store works.

This test stops and starts a PostgreSQL of its own (the session's server is shared by every
other test), so it runs against the embedded server even when ``NIGH_TEST_PG_URL`` is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

import nighdb
from nighdb import Collection

from .pg_server import EmbeddedServer, embedded_server

TIMEOUT = 1.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    srv = embedded_server()
    yield srv
    srv.cleanup()


def test_store_survives_a_server_restart(server: EmbeddedServer) -> None:
    store = nighdb.open_store(server.url, timeout=TIMEOUT, connect_timeout=2)
    try:
        store.ensure_collection("t", Collection("c", 2))
        store.upsert("t", "c", [{"id": "before", "vector": [1.0, 0.0]}])

        server.stop()
        for call in (
            lambda: store.search("t", "c", [1.0, 0.0]),
            lambda: store.upsert("t", "c", [{"id": "lost", "vector": [1.0, 0.0]}]),
            lambda: store.describe_collection("t", "c"),
        ):
            started = time.monotonic()
            with pytest.raises(nighdb.StoreUnavailableError) as info:
                call()
            assert info.value.code == "unavailable" and info.value.retryable
            assert time.monotonic() - started < TIMEOUT + 3  # bounded, not a hang

        server.start()
        # The same object, not reopened: its pool replaces the dead connections by itself
        # (on a busy machine its reconnection backoff may need one more round).
        assert [m.id for m in _soon(lambda: store.search("t", "c", [1.0, 0.0]))] == ["before"]
        assert store.upsert("t", "c", [{"id": "after", "vector": [0.0, 1.0]}]) == 1
        assert sorted(store.list_ids("t", "c")) == ["after", "before"]
    finally:
        store.close()


def _soon(call: Callable[[], T], within: float = 15.0) -> T:
    """``call()``, retried while it raises ``StoreUnavailableError``, for ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return call()
        except nighdb.StoreUnavailableError:
            if time.monotonic() > deadline:
                raise


def test_opening_while_the_server_is_down_is_unavailable(server: EmbeddedServer) -> None:
    server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(nighdb.StoreUnavailableError):
            nighdb.open_store(server.url, timeout=TIMEOUT, connect_timeout=2)
        assert time.monotonic() - started < TIMEOUT + 3
    finally:
        server.start()
    with nighdb.open_store(server.url, timeout=TIMEOUT) as store:
        assert store.list_tenants() == ["t"]
