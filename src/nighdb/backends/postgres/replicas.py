"""Read replicas for the pgvector backend (contract §17): where a read runs.

A store opened with ``read_urls`` keeps one small pool per streaming replica. Searches,
counts, scrolls, fetches and id listings (the reads that may lag a little) go to the replicas
in turn, round robin; everything else, and anything that must see the latest write, runs on
the primary. Pins (a collection's id, dimensions, metric, index) always come from the
primary, so a read never acts on a collection the primary has dropped or changed.

A replica that does not answer is *skipped*, never an error: its connection attempt is
short (``REPLICA_CONNECT_SECONDS``), it is left alone for ``REPLICA_RETRY_SECONDS``, and the
read goes to the next replica or, when none answers, to the primary. A read the replica
cannot serve yet — the collection's table has not been replayed there, or a recovery
conflict cancelled the query — also runs on the primary instead.

``read_your_writes``: after each write the store notes the primary's WAL insert position
(``pg_current_wal_insert_lsn()``, which is past the write's commit record). Before a read, a
replica's replay position (``pg_last_wal_replay_lsn()``) is compared with it, and a replica
that is behind is passed over: the read goes to another replica that has caught up, or to
the primary. It never waits, so a lagging replica costs one small query, not latency.
This is per store (per ``open_store``): another process's writes are not tracked.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ...store import redacted_url
from .conninfo import connect_options
from .driver_errors import translate_errors
from .liveness import Liveness
from .pins import StaleTableError, retrying
from .schema import Conn

__all__ = [
    "REPLICA_CONNECT_SECONDS",
    "REPLICA_RETRY_SECONDS",
    "ReadRouter",
    "parse_lsn",
]

T = TypeVar("T")

REPLICA_CONNECT_SECONDS = 2
"""How long a read waits for a replica's connection before trying elsewhere (libpq's
smallest useful ``connect_timeout``: it treats 1 as 2)."""

REPLICA_RETRY_SECONDS = 10.0
"""How long an unreachable replica is left alone before a read tries it again."""

# Errors after which this replica is left alone for a while: it is down, restarting, or
# unreachable. (A PoolTimeout is also what a replica that answers too slowly looks like.)
_UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
# A hot standby cancels a query whose rows replay is about to remove ("conflict with
# recovery", SQLSTATE 40001 after our retries): the primary answers it instead.
_CANNOT_SERVE = (StaleTableError, psycopg.errors.SerializationFailure)


def parse_lsn(text: str) -> int:
    """A ``pg_lsn`` (``'16/B374D848'``) as the 64-bit WAL position it writes in hex."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass
class _Replica:
    where: str  # the URL without its password, for messages
    pool: ConnectionPool[Conn]
    liveness: Liveness
    down_since: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def available(self, now: float) -> bool:
        with self.lock:
            return self.down_since is None or now - self.down_since >= REPLICA_RETRY_SECONDS

    def mark_down(self) -> None:
        with self.lock:
            self.down_since = time.monotonic()

    def mark_up(self) -> None:
        with self.lock:
            self.down_since = None


def _configure(configure: Callable[[Conn], None], liveness: Liveness, conn: Conn) -> None:
    configure(conn)
    liveness.made(conn)


class ReadRouter:
    """The replicas of one store, and the rule that picks where a read runs. Thread-safe.

    With no replica URLs every read runs on the primary, at no cost beyond a call.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        pool_max_size: int,
        timeout: float,
        prepare: bool,
        configure: Callable[[Conn], None],
        read_your_writes: bool,
    ) -> None:
        self._read_your_writes = read_your_writes
        self._lock = threading.Lock()
        self._turn = 0
        self._written: int | None = None  # the WAL position past this store's last write
        self._replicas: list[_Replica] = []
        try:
            for url in urls:
                kwargs = connect_options(
                    url, connect_timeout=REPLICA_CONNECT_SECONDS, timeout=timeout, prepare=prepare
                )
                liveness = Liveness()
                pool: ConnectionPool[Conn] = ConnectionPool(
                    url,
                    kwargs=kwargs,
                    min_size=0,  # a replica down at start-up is no reason to fail the open
                    max_size=pool_max_size,
                    open=False,
                    configure=partial(_configure, configure, liveness),
                    check=liveness.check,
                    timeout=REPLICA_CONNECT_SECONDS,
                    reconnect_timeout=REPLICA_CONNECT_SECONDS,
                    name="nighdb-replica",
                )
                self._replicas.append(_Replica(redacted_url(url), pool, liveness))
                pool.open(wait=False)
        except BaseException:
            self.close()
            raise

    @property
    def urls(self) -> list[str]:
        """The replicas, passwords removed."""
        return [r.where for r in self._replicas]

    def wrote(self, conn: Conn) -> None:
        """Note the primary's WAL position after a write committed on ``conn`` (only when
        reads must see this store's writes and there is a replica to lag behind)."""
        if not (self._read_your_writes and self._replicas):
            return
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        position = parse_lsn(str(row[0]))
        with self._lock:
            if self._written is None or position > self._written:
                self._written = position

    def run(self, work: Callable[[Conn], T], primary: Callable[[Callable[[Conn], T]], T]) -> T:
        """``work`` on a replica that answers (and has caught up, under
        ``read_your_writes``), else ``primary(work)``."""
        # Errors other than the ones that send the read elsewhere are translated as the
        # primary's are (a NighError passes through).
        with translate_errors(REPLICA_CONNECT_SECONDS):
            for replica in self._in_turn():
                try:
                    with replica.liveness.connection(replica.pool) as conn:
                        if not self._caught_up(conn):
                            continue
                        answer = retrying(partial(work, conn))
                    replica.mark_up()
                    return answer
                except _CANNOT_SERVE:
                    break  # another replica is unlikely to do better: ask the primary
                except _UNREACHABLE:
                    replica.mark_down()
        return primary(work)

    def _in_turn(self) -> Iterator[_Replica]:
        """The available replicas, each read starting one further along (round robin)."""
        if not self._replicas:
            return
        with self._lock:
            start = self._turn
            self._turn = (self._turn + 1) % len(self._replicas)
        now = time.monotonic()
        for i in range(len(self._replicas)):
            replica = self._replicas[(start + i) % len(self._replicas)]
            if replica.available(now):
                yield replica

    def _caught_up(self, conn: Conn) -> bool:
        with self._lock:
            written = self._written
        if written is None:
            return True
        row = conn.execute("SELECT pg_last_wal_replay_lsn()::text").fetchone()
        if row is None or row[0] is None:
            return True  # not in recovery: a primary itself, it has what it has
        return parse_lsn(str(row[0])) >= written

    def close(self) -> None:
        for replica in self._replicas:
            with contextlib.suppress(psycopg.Error):
                replica.pool.close()

    def __repr__(self) -> str:
        return f"ReadRouter({self.urls})"
