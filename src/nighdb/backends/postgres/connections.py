"""What every method group of ``PostgresStore`` shares: its state and how a call connects.

``PostgresStore`` (``store``) opens the pool, the pin cache and the replicas' router; the
method groups (``index_methods``, ``item_reads``, ``item_writes``) subclass ``Connections``
to reach them with types, so each group lives in its own module and the store module stays
about opening, collections and search.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TypeVar

from psycopg.types import TypeInfo
from psycopg_pool import ConnectionPool

from ...errors import InvalidArgumentError
from .driver_errors import translate_errors
from .liveness import Liveness
from .pins import Pins, retrying
from .replicas import ReadRouter
from .schema import Conn, Layout

__all__ = ["Connections", "replayable"]

S = TypeVar("S")


class Connections:
    """The pool and the routing of ``PostgresStore``'s calls (set by its ``__init__``)."""

    _closed: bool
    _timeout: float
    _layout: Layout
    _pins: Pins
    _vector_info: TypeInfo
    _pool: ConnectionPool[Conn]
    _liveness: Liveness
    _router: ReadRouter

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Conn]:
        if self._closed:
            raise InvalidArgumentError("this store is closed; open a new one")
        with translate_errors(self._timeout), self._liveness.connection(self._pool) as conn:
            yield conn

    def _read(self, work: Callable[[Conn], S]) -> S:
        """A read that may lag a little (contract §17): on a replica when there is one."""
        if self._closed:
            raise InvalidArgumentError("this store is closed; open a new one")
        return self._router.run(work, self._read_primary)

    def _read_primary(self, work: Callable[[Conn], S]) -> S:
        """A read on the primary, run again after a deadlock or on a connection found dead
        (``liveness``: reads only, as they change nothing)."""
        if self._closed:
            raise InvalidArgumentError("this store is closed; open a new one")
        with translate_errors(self._timeout):
            return self._liveness.read(self._pool, lambda conn: retrying(partial(work, conn)))


def replayable(values: Iterable[S]) -> Iterable[S]:
    """An iterator as a list: ``Pins.run`` may validate its input twice (see there)."""
    return list(values) if isinstance(values, Iterator) else values
