"""Opening a store: ``create`` (default true) creates a missing one; ``create=False`` opens
only an existing store and creates nothing, on every backend and through the async twin."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import nighdb

from .. import pg_server


def test_create_false_opens_an_existing_store(store: nighdb.Store, store_url: str) -> None:
    store.ensure_collection("acme", nighdb.Collection("docs", 2))
    store.upsert("acme", "docs", [{"id": "a", "vector": [1.0, 0.0]}])
    with nighdb.open_store(store_url, create=False) as reader:
        assert reader.count("acme", "docs") == 1

    async def read() -> int:
        async with nighdb.open_async_store(store_url, create=False) as reader:
            return await reader.count("acme", "docs")

    assert asyncio.run(read()) == 1


def _missing_url(backend: str, tmp_path: Path) -> str | None:
    """A URL where no store exists yet (None: the backend has nothing to create)."""
    if backend.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'typo' / 'store.db'}"
    if backend.startswith("postgres"):
        return pg_server.url_for(tmp_path / "empty-schema")  # an empty schema
    return None


def test_create_false_refuses_a_missing_store_and_creates_nothing(
    backend: str, tmp_path: Path
) -> None:
    url = _missing_url(backend, tmp_path)
    if url is None:
        # A service's store always exists, so create=False has nothing to refuse: a service
        # that cannot be reached is unavailable (retryable), never a store to create.
        remote = nighdb.open_store("http://127.0.0.1:9", api_key="k", create=False)
        with remote, pytest.raises(nighdb.StoreUnavailableError):
            remote.list_tenants()
        return
    with pytest.raises(nighdb.InvalidArgumentError, match="no store exists") as info:
        nighdb.open_store(url, create=False)
    assert info.value.code == "invalid_argument" and not info.value.retryable

    async def first_call() -> None:
        async with nighdb.open_async_store(url, create=False) as reader:
            await reader.list_tenants()

    with pytest.raises(nighdb.InvalidArgumentError, match="no store exists"):
        asyncio.run(first_call())
    if backend.startswith("sqlite"):
        assert not (tmp_path / "typo").exists()
    # Nothing was created: the default still creates, and the new store is empty.
    with nighdb.open_store(url) as created:
        assert created.list_tenants() == []
    with nighdb.open_store(url, create=False) as reader:
        assert reader.list_tenants() == []
