"""What every method group of ``SQLiteStore`` shares: its connections and transactions.

``SQLiteStore`` (``store``) sets up the connection options; the method groups
(``item_reads``, ``item_writes``) subclass ``Transactions`` for this thread's connection, a
transaction on it, the collection's pin read inside that transaction and the version bump of
a write, so each group lives in its own module and the store module stays about opening,
collections and search.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import apsw

from ...errors import CollectionNotFoundError, InvalidArgumentError
from ...validation import check_collection_name, check_tenant
from .schema import PIN_COLUMNS, Pin, connect, translate_errors

__all__ = ["KEPT_VERSIONS", "Transactions", "version_token"]

T = TypeVar("T")

KEPT_VERSIONS = 4096
"""The versions of a collection whose token is kept: a copy derived at an older version
than that is rebuilt rather than caught up (as many writes would be as long to replay)."""


def version_token(conn: apsw.Connection, collection_id: int, version: int) -> int | None:
    """The token of a collection's version in ``conn``'s snapshot; None when not kept."""
    row = conn.execute(
        "SELECT token FROM nigh_versions WHERE collection_id = ? AND version = ?",
        (collection_id, version),
    ).fetchone()
    return None if row is None else int(row[0])


class Transactions:
    """One connection per thread and the transactions on it (options set by ``SQLiteStore``)."""

    path: str
    _create: bool
    _synchronous: str
    _busy_ms: int
    _local: threading.local
    _connections: list[apsw.Connection]
    _lock: threading.Lock
    _closed: bool

    def _conn(self) -> apsw.Connection:
        if self._closed:
            raise InvalidArgumentError("this store is closed; open a new one")
        conn: apsw.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(
                self.path,
                busy_timeout_ms=self._busy_ms,
                synchronous=self._synchronous,
                create=self._create,
            )
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[apsw.Connection]:
        """A transaction on this thread's connection; errors translated, rolled back on failure."""
        with translate_errors(self.path):
            conn = self._conn()
            # IMMEDIATE takes the write lock first, so two writers queue instead of failing
            # to upgrade a read snapshot.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _pin(self, conn: apsw.Connection, tenant: str, name: str) -> Pin | None:
        row = conn.execute(
            f"SELECT {PIN_COLUMNS} FROM nigh_collections WHERE tenant = ? AND name = ?",
            (tenant, name),
        ).fetchone()
        return None if row is None else Pin(row)

    def _require(self, conn: apsw.Connection, tenant: str, name: str) -> Pin:
        pin = self._pin(conn, tenant, name)
        if pin is None:
            raise CollectionNotFoundError(tenant, name)
        return pin

    def _read_collection(
        self, tenant: str, name: str, body: Callable[[apsw.Connection, Pin], T]
    ) -> T:
        tenant = check_tenant(tenant)
        name = check_collection_name(name)
        with self._transaction(write=False) as conn:
            return body(conn, self._require(conn, tenant, name))

    @staticmethod
    def _bump(conn: apsw.Connection, collection_id: int) -> int:
        """The collection's next version, with a random token of its own (``nigh_versions``:
        the last ``KEPT_VERSIONS``), which tells it from the same number reached again
        after a backup of the file was restored."""
        row = conn.execute(
            "UPDATE nigh_collections SET version = version + 1 WHERE id = ? RETURNING version",
            (collection_id,),
        ).fetchone()
        assert row is not None  # the caller holds the write lock on an existing collection
        version = int(row[0])
        conn.execute(
            "INSERT OR REPLACE INTO nigh_versions (collection_id, version, token) "
            "VALUES (?, ?, random())",
            (collection_id, version),
        )
        conn.execute(
            "DELETE FROM nigh_versions WHERE collection_id = ? AND version <= ?",
            (collection_id, version - KEPT_VERSIONS),
        )
        return version
