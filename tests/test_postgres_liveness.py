"""The pool's check policy (``backends/postgres/liveness.py``) on a real server.

A connection used a moment ago is handed out without the round trip of a check; one the
server closed in the meantime is still never handed to a call (its socket shows it); a read
whose connection dies under it runs once more, a write does not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from nighdb import Collection
from nighdb.backends.postgres import PostgresStore
from nighdb.backends.postgres.liveness import Liveness
from nighdb.backends.postgres.schema import Conn

from .pg_server import postgres_store, session_database, url_for

T = "t"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with postgres_store(tmp_path, pool_min_size=1, pool_max_size=1) as opened:
        opened.ensure_collection(T, Collection("c", 2))
        opened.upsert(T, "c", [{"id": "a", "vector": [1.0, 0.0], "text": "red apple"}])
        yield opened


def _backend_pids(application: str = "nighdb") -> set[int]:
    admin = session_database().admin
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname ="
        " current_database() AND pid <> pg_backend_pid()",
        (application,),
    ).fetchall()
    return {int(str(r[0])) for r in rows}


def _terminate(pids: set[int]) -> None:
    admin = session_database().admin
    for pid in pids:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_a_recently_used_connection_is_not_checked_with_a_round_trip(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[Conn] = []
    real = ConnectionPool.check_connection

    def counted(conn: Conn) -> None:
        checks.append(conn)
        real(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    for _ in range(5):
        assert [m.id for m in store.search(T, "c", [1.0, 0.0])] == ["a"]
        assert [m.id for m in store.search(T, "c", text="apple")] == ["a"]
        assert store.count(T, "c") == 1
    assert checks == []


def test_a_connection_the_server_closed_never_reaches_a_call(store: PostgresStore) -> None:
    # The store's only connection was used a moment ago (no round-trip check is due), then
    # the server ends it: the next calls, reads and writes, must not meet it.
    before = _backend_pids()
    assert before
    _terminate(before)
    assert store.upsert(T, "c", [{"id": "b", "vector": [0.0, 1.0], "text": "green pear"}]) == 1
    _terminate(_backend_pids())
    assert [m.id for m in store.search(T, "c", text="pear")] == ["b"]
    _terminate(_backend_pids())
    assert [m.id for m in store.search(T, "c", [0.0, 1.0])] == ["b", "a"]
    assert not _backend_pids() & before


def _pool(tmp_path: Path, liveness: Liveness) -> ConnectionPool[Conn]:
    pool: ConnectionPool[Conn] = ConnectionPool(
        url_for(tmp_path),
        kwargs={"autocommit": True, "application_name": "nighdb-liveness-test"},
        min_size=1,
        max_size=1,
        configure=liveness.made,
        check=liveness.check,
        timeout=10,
        open=False,
    )
    pool.open(wait=True)
    return pool


def _dies_first_time(calls: list[int]) -> Callable[[Conn], int]:
    def work(conn: Conn) -> int:
        calls.append(1)
        if len(calls) == 1:  # the connection dies under the first attempt
            conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        row = conn.execute("SELECT 42").fetchone()
        assert row is not None
        return int(row[0])

    return work


def test_a_read_whose_connection_dies_runs_once_more(tmp_path: Path) -> None:
    liveness = Liveness()
    with _pool(tmp_path, liveness) as pool:
        calls: list[int] = []
        assert liveness.read(pool, _dies_first_time(calls)) == 42
        assert len(calls) == 2


def test_a_write_whose_connection_dies_is_not_run_again(tmp_path: Path) -> None:
    liveness = Liveness()
    with _pool(tmp_path, liveness) as pool:
        calls: list[int] = []
        work = _dies_first_time(calls)
        with pytest.raises(psycopg.OperationalError), liveness.connection(pool) as conn:
            work(conn)
        assert len(calls) == 1
        # The pool replaced the dead connection: the next call works.
        with liveness.connection(pool) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
