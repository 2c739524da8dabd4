"""``SQLiteStore``'s index calls (contract §15), as a mixin over its transactions.

Kept apart from ``store`` so that the store module stays about transactions and items; the
graphs themselves are ``ann_state``'s, their search ``ann_search``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

import apsw

from ...indexes import IndexOptions, check_index_options
from ...validation import check_collection_name, check_tenant
from .ann import require_usearch
from .ann_state import AnnIndexes, read_record
from .schema import Pin

__all__ = ["IndexMethods"]

T = TypeVar("T")


class IndexMethods:
    """``create_index``, ``describe_index``, ``drop_index`` and the saving of caught-up
    graphs, for a class that provides the transactions below (``SQLiteStore``)."""

    _ann: AnnIndexes

    def _transaction(self, *, write: bool) -> AbstractContextManager[apsw.Connection]:
        raise NotImplementedError  # SQLiteStore's

    def _require(self, conn: apsw.Connection, tenant: str, name: str) -> Pin:
        raise NotImplementedError  # SQLiteStore's

    def _read_collection(
        self, tenant: str, name: str, body: Callable[[apsw.Connection, Pin], T]
    ) -> T:
        raise NotImplementedError  # SQLiteStore's

    def create_index(
        self, tenant: str, collection: str, *, m: int = 16, ef_construction: int = 64
    ) -> IndexOptions:
        """Build the graph from one snapshot, then record it and write its file in one write
        transaction; writes that land in between are caught up by the next search."""
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._transaction(write=False) as conn:
            pin = self._require(conn, tenant, name)
            options = check_index_options(m, ef_construction)
            require_usearch()
            graph = self._ann.build(conn, pin, options)
        with self._transaction(write=True) as conn:
            current = self._require(conn, tenant, name)
            if current.id != pin.id:  # dropped and re-created meanwhile: build the new one
                graph = self._ann.build(conn, current, options)
            self._ann.record(conn, current, options, graph)
        return options

    def describe_index(self, tenant: str, collection: str) -> IndexOptions | None:
        def body(conn: apsw.Connection, pin: Pin) -> IndexOptions | None:
            record = read_record(conn, pin.id)
            return None if record is None else record.options

        return self._read_collection(tenant, collection, body)

    def drop_index(self, tenant: str, collection: str) -> bool:
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._transaction(write=True) as conn:
            return self._ann.remove(conn, self._require(conn, tenant, name).id)

    def _save_index(self, collection_id: int) -> None:
        """After a search: write the graph's file if it caught up on many rows since."""
        graph = self._ann.wants_saving(collection_id)
        if graph is not None:
            with self._transaction(write=True) as conn:
                self._ann.save_if_newer(conn, collection_id, graph)
