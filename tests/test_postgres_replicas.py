"""Read replicas (contract §17) on a real primary and a real streaming replica.

Where a read ran is seen from outside, by its answer: with the replica's replay paused, a
write on the primary is invisible on the replica, so a read that misses it ran there and a
read that sees it ran on the primary.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

import nighdb
from nighdb import Collection
from nighdb.backends.postgres import replicas
from nighdb.cli import main

from .harness import ServeNode, create_key
from .pg_replica import ReplicatedServers

T = "acme"


@pytest.fixture(scope="module")
def servers() -> Iterator[ReplicatedServers]:
    with ReplicatedServers() as made:
        yield made


@pytest.fixture
def collection(servers: ReplicatedServers, request: pytest.FixtureRequest) -> Iterator[str]:
    """A collection with one item, replayed on the replica; replay running again after."""
    name = request.node.name[:60].replace("[", "_").replace("]", "_")
    with nighdb.open_store(servers.primary_url) as writer:
        writer.ensure_collection(T, Collection(name, 2))
        writer.upsert(T, name, [{"id": "old", "vector": [1.0, 0.0], "metadata": {"k": 1}}])
    servers.wait_caught_up()
    yield name
    servers.resume_replay()


def _ids(store: nighdb.Store, name: str) -> dict[str, object]:
    """What each routed read sees of the collection."""
    return {
        "search": [m.id for m in store.search(T, name, [1.0, 0.5], limit=10)],
        "count": store.count(T, name),
        "fetch": [i.id for i in store.fetch(T, name, ["old", "new"])],
        "scroll": [i.id for i in store.scroll(T, name)],
        "list_ids": sorted(store.list_ids(T, name)),  # unordered without paging
    }


OLD = {"search": ["old"], "count": 1, "fetch": ["old"], "scroll": ["old"], "list_ids": ["old"]}
BOTH = {
    "search": ["new", "old"],
    "count": 2,
    "fetch": ["old", "new"],
    "scroll": ["new", "old"],
    "list_ids": ["new", "old"],
}


def test_the_replica_is_a_hot_standby(servers: ReplicatedServers) -> None:
    for url, in_recovery in ((servers.primary_url, False), (servers.replica_url, True)):
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (in_recovery,)


def test_reads_go_to_the_replica_and_writes_to_the_primary(
    servers: ReplicatedServers, collection: str
) -> None:
    with nighdb.open_store(servers.primary_url, read_urls=[servers.replica_url]) as store:
        assert _ids(store, collection) == OLD
        servers.pause_replay()
        # The write succeeds: it went to the primary (a standby refuses every write).
        store.upsert(T, collection, [{"id": "new", "vector": [1.0, 1.0], "metadata": {"k": 2}}])
        assert _ids(store, collection) == OLD  # every read ran on the paused replica
        with nighdb.open_store(servers.primary_url) as primary:
            assert _ids(primary, collection) == BOTH
        servers.resume_replay()
        servers.wait_caught_up()
        assert _ids(store, collection) == BOTH


def test_read_your_writes_sees_its_own_write(servers: ReplicatedServers, collection: str) -> None:
    urls = [servers.replica_url]
    with (
        nighdb.open_store(servers.primary_url, read_urls=urls, read_your_writes=True) as mine,
        nighdb.open_store(servers.primary_url, read_urls=urls) as other,
    ):
        assert _ids(mine, collection) == OLD
        servers.pause_replay()
        mine.upsert(T, collection, [{"id": "new", "vector": [1.0, 1.0], "metadata": {"k": 2}}])
        # The replica is behind this store's write: its reads go to the primary, never wait.
        assert _ids(mine, collection) == BOTH
        assert _ids(other, collection) == OLD  # a store without the option reads the replica
        servers.resume_replay()
        servers.wait_caught_up()
        # Caught up: the replica serves it again, and it does not see writes it did not make
        # once the replica is paused again (another store's write, not tracked).
        servers.pause_replay()
        other.delete(T, collection, ["new"])
        assert _ids(mine, collection) == BOTH


def test_a_collection_not_yet_replayed_is_read_on_the_primary(
    servers: ReplicatedServers, collection: str
) -> None:
    with nighdb.open_store(servers.primary_url, read_urls=[servers.replica_url]) as store:
        servers.pause_replay()
        store.ensure_collection(T, Collection(collection + "_b", 2))
        store.upsert(T, collection + "_b", [{"id": "new", "vector": [0.0, 1.0]}])
        # The replica has no table for it yet: the primary answers, no error.
        assert [m.id for m in store.search(T, collection + "_b", [0.0, 1.0])] == ["new"]
        assert store.count(T, collection + "_b") == 1


def test_a_stopped_replica_falls_back_to_the_primary(
    servers: ReplicatedServers, collection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with nighdb.open_store(servers.primary_url, read_urls=[servers.replica_url]) as store:
        assert _ids(store, collection) == OLD
        servers.stop_replica()
        try:
            store.upsert(T, collection, [{"id": "new", "vector": [1.0, 1.0], "metadata": {}}])
            assert _ids(store, collection) == BOTH  # skipped, not an error
        finally:
            servers.start_replica()
        servers.wait_caught_up()
        monkeypatch.setattr(replicas, "REPLICA_RETRY_SECONDS", 0.0)  # try it again now
        servers.pause_replay()
        store.delete(T, collection, ["new"])
        assert _ids(store, collection) == BOTH  # back on the (paused) replica


def test_a_replica_down_at_open_is_no_error(servers: ReplicatedServers, collection: str) -> None:
    nowhere = "postgresql://postgres@/postgres?host=/nonexistent-nigh-socket-dir"
    with nighdb.open_store(servers.primary_url, read_urls=[nowhere]) as store:
        assert _ids(store, collection) == OLD


def test_read_urls_are_checked(servers: ReplicatedServers) -> None:
    with pytest.raises(nighdb.InvalidArgumentError, match="read_urls"):
        nighdb.open_store(servers.primary_url, read_urls=servers.replica_url)
    with pytest.raises(nighdb.InvalidArgumentError, match="invalid PostgreSQL URL"):
        nighdb.open_store(servers.primary_url, read_urls=["host=x port=notaport ="])


def test_nigh_serve_reads_from_its_read_urls(servers: ReplicatedServers, collection: str) -> None:
    # A service node takes the same options (contract §17).
    key = create_key(servers.primary_url, None)
    with ServeNode.nigh_serve(servers.primary_url, "--read-url", servers.replica_url) as node:
        remote = nighdb.open_store(node.url.replace("://", f"://{key}@"))
        with remote:
            assert _ids(remote, collection) == OLD
            servers.pause_replay()
            remote.upsert(T, collection, [{"id": "new", "vector": [1.0, 1.0], "metadata": {}}])
            assert _ids(remote, collection) == OLD  # read on the paused replica


def test_read_urls_from_the_environment_and_other_backends_refuse_them(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    env = {"NIGH_STORE": None, "NIGH_READ_URLS": "postgresql://a postgresql://b"}
    done = CliRunner().invoke(main, ["serve", "--store", store], env=env)
    assert done.exit_code != 0 and "read_urls" in done.stderr, done.stderr
    done = CliRunner().invoke(main, ["serve", "--store", store, "--read-your-writes"])
    assert done.exit_code != 0 and "read_your_writes" in done.stderr, done.stderr


def test_wal_positions_compare_as_numbers() -> None:
    # pg_lsn text is two hex halves: '0/FFFFFFFF' is before '1/0', though not as text.
    assert replicas.parse_lsn("16/B374D848") == 0x16_B374D848
    assert replicas.parse_lsn("0/FFFFFFFF") < replicas.parse_lsn("1/0")
    assert replicas.parse_lsn("0/A") > replicas.parse_lsn("0/9")
