"""Two service nodes on one database: keys and data are shared, the nodes keep no state.

This is the HA deployment of docs/service.md (several ``nigh serve`` behind a load
balancer, one PostgreSQL), checked on PostgreSQL and on one SQLite file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import nighdb
from nighdb import Collection
from nighdb.keys import KeyRegistry

from . import pg_server
from .service_support import InProcessService, create_key


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return pg_server.url_for(tmp_path)
    return f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.fixture
def nodes(database: str) -> Iterator[tuple[InProcessService, InProcessService]]:
    with InProcessService(database) as one, InProcessService(database) as two:
        yield one, two


def test_keys_and_data_are_shared_by_every_node(
    database: str, nodes: tuple[InProcessService, InProcessService]
) -> None:
    one, two = nodes
    # A key created on the database (as `nigh keys create --store URL` does)...
    with nighdb.open_store(database) as admin_store:
        key = create_key(admin_store, tenant="acme")
    headers = {"Authorization": f"Bearer {key}"}
    # ...works on both nodes, and what one node writes the other reads.
    assert one.client.put(
        "/v1/collections/docs", json={"dimensions": 2}, headers=headers
    ).is_success
    items = [{"id": f"{n}", "vector": [1.0, float(n)]} for n in range(5)]
    one.client.post("/v1/collections/docs/upsert", json={"items": items}, headers=headers)
    found = two.client.post(
        "/v1/collections/docs/search", json={"vector": [1.0, 0.0], "limit": 2}, headers=headers
    ).json()
    assert [m["id"] for m in found["matches"]] == ["0", "1"]
    # A revocation through one node's database stops the key on every node at once.
    store = two.store
    assert isinstance(store, KeyRegistry)
    assert store.revoke_key(key.split("_")[1])
    for node in (one, two):
        assert node.client.get("/v1/collections", headers=headers).status_code == 401


def test_concurrent_first_puts_on_two_nodes_create_one_collection(
    nodes: tuple[InProcessService, InProcessService],
) -> None:
    one, two = nodes
    key = one.create_key(tenant="acme")
    headers = {"Authorization": f"Bearer {key}"}
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def put(client: httpx.Client) -> None:
        barrier.wait()
        response = client.put("/v1/collections/raced", json={"dimensions": 4}, headers=headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=put, args=(n.client,)) for n in (one, two) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses)) in ([200, 201], [201])  # 201 at least once, never an error
    assert one.store.list_collections("acme") == [Collection("raced", 4)]
