"""When a pooled connection is checked before use, and which calls run again on a lost one.

psycopg_pool's usual ``check`` (``ConnectionPool.check_connection``) sends an empty query on
every checkout: one more round trip on every call, as long as a 1 ms search itself. The
policy here is the one of pgx's pool, HikariCP and Go's MySQL driver:

* **Every checkout looks at the socket, without a round trip.** An idle connection in
  autocommit receives nothing from the server unless the server is going away: a restart,
  ``pg_terminate_backend`` or an idle timeout sends a FATAL message and closes the socket,
  which makes it readable. A readable socket (or an unknown state) gets the real check,
  which finds the connection dead, and the pool hands out another one.
* **A connection idle longer than** ``CHECK_IDLE_SECONDS`` **gets the real check**: a
  network that died without a word (a partition, a dead host) leaves nothing on the socket,
  and an idle connection is the likeliest to have met one.
* **After a lost connection, every connection last used before it is checked** at its next
  checkout (``lost``): what killed one (a restart) usually killed them all.
* **A read that meets a lost connection anyway runs once more** (``Liveness.read``): it
  changes nothing, so running it again is safe. A write does not run again (its COMMIT may
  have reached the server); it fails with ``StoreUnavailableError``, retryable, as any call
  does during an outage. Only a connection that dies between the look at its socket and its
  first statement can do that: the same window a checked connection has between its check
  and its statement.
"""

from __future__ import annotations

import contextlib
import math
import select
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from .schema import Conn

__all__ = ["CHECK_IDLE_SECONDS", "Liveness"]

T = TypeVar("T")

CHECK_IDLE_SECONDS = 5.0
"""A pooled connection idle at least this long is checked with a round trip before use."""

# What a lost connection raises in psycopg (a server error, such as a constraint violation,
# is never a reason to run a call again).
_LOST = (psycopg.OperationalError, psycopg.InterfaceError)


class Liveness:
    """The check policy of one pool (one server). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # When each pooled connection was last given back (or made): a weak map, so a
        # connection the pool closes is forgotten with it.
        self._released: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()
        self._lost_at = -math.inf

    def made(self, conn: Conn) -> None:
        """Note a connection the pool just opened (call from the pool's ``configure``)."""
        self._stamp(conn)

    def check(self, conn: Conn) -> None:
        """psycopg_pool's ``check``: raise if ``conn`` is dead; a round trip only when needed."""
        with self._lock:
            released = self._released.get(conn)
            lost_at = self._lost_at
        now = time.monotonic()
        if (
            released is None
            or released <= lost_at
            or now - released >= CHECK_IDLE_SECONDS
            or _has_input(conn)
        ):
            ConnectionPool.check_connection(conn)

    def lost(self) -> None:
        """A connection was found dead: check every connection released before now."""
        with self._lock:
            self._lost_at = time.monotonic()

    @contextlib.contextmanager
    def connection(self, pool: ConnectionPool[Conn]) -> Iterator[Conn]:
        """A connection of ``pool``, its release noted (and its loss, should it die)."""
        with pool.connection() as conn:
            try:
                yield conn
            finally:
                if conn.broken:
                    self.lost()
                else:
                    self._stamp(conn)

    def read(self, pool: ConnectionPool[Conn], work: Callable[[Conn], T]) -> T:
        """``work`` on a connection of ``pool``, once more on a checked one if the first
        connection turned out dead. Only for work that writes nothing."""
        with self.connection(pool) as conn:
            try:
                return work(conn)
            except _LOST:
                if not conn.broken:
                    raise
        # The dead connection went back to the pool, which discards it; ``lost`` has made
        # every connection released before now be checked, so this one is alive.
        with self.connection(pool) as conn:
            return work(conn)

    def _stamp(self, conn: Conn) -> None:
        with self._lock:
            self._released[conn] = time.monotonic()


def _has_input(conn: Conn) -> bool:
    """Whether the server sent something to an idle connection (or its socket is gone)."""
    try:
        fd = conn.fileno()
    except psycopg.Error:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # Windows: no poll, sockets only
    return bool(readable)
