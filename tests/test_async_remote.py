"""The async twin over a real ``nigh serve`` on loopback: the same calls, the same errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import nighdb

from .service_support import open_in_process_store


def test_async_store_over_a_real_service(tmp_path: Path) -> None:
    host = open_in_process_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        url = host.serve_on_loopback()  # a real server; the admin key travels in the URL

        async def scenario() -> None:
            async with nighdb.open_async_store(url) as store:
                pin = nighdb.Collection("docs", dimensions=2, metric="l2")
                assert await store.ensure_collection("acme", pin) == pin
                items = [{"id": "a", "vector": [0.0, 0.0]}, {"id": "b", "vector": [3.0, 4.0]}]
                assert await store.upsert("acme", "docs", items) == 2
                hits = await store.search("acme", "docs", [3.0, 4.0], limit=2)
                assert [(h.id, h.distance) for h in hits] == [("b", 0.0), ("a", 5.0)]
                many = await store.search_many("acme", "docs", [[0.0, 0.0], [3.0, 4.0]], limit=1)
                assert [[h.id for h in row] for row in many] == [["a"], ["b"]]
                assert await store.list_tenants() == ["acme"]
                with pytest.raises(nighdb.DimensionMismatchError) as err:
                    await store.search("acme", "docs", [1.0, 2.0, 3.0])
                assert (err.value.expected, err.value.got) == (2, 3)
                with pytest.raises(nighdb.CollectionNotFoundError):
                    await store.count("globex", "docs")
                assert await store.delete("acme", "docs", ["a", "a", "zz"]) == 1

        asyncio.run(scenario())
        assert host.count("acme", "docs") == 1  # the writes reached the shared database
    finally:
        host.close()
