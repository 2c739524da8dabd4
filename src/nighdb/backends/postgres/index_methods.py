"""``PostgresStore``'s HNSW index calls (contract §15): create, drop and describe.

Kept apart from ``store`` so that the store module stays about opening, collections and
search; the index's DDL is ``index``'s.
"""

from __future__ import annotations

from ...errors import CollectionNotFoundError, InvalidArgumentError
from ...indexes import check_index_options
from ...validation import check_collection_name, check_tenant
from . import index as hnsw
from .connections import Connections
from .index import HnswIndex
from .registry import Pin
from .schema import Conn

__all__ = ["IndexMethods"]


class IndexMethods(Connections):
    """``create_index``, ``drop_index`` and ``describe_index`` of ``PostgresStore``."""

    def create_index(
        self, tenant: str, collection: str, *, m: int = 16, ef_construction: int = 64
    ) -> HnswIndex:
        """Build (or rebuild with new options) the collection's HNSW index.

        Searches then use it (approximately, see docs/postgres.md). The build blocks writes
        to this collection, not reads, until it finishes.
        """
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._connection() as conn, conn.transaction():
            pin = self._locked_pin(conn, tenant, name)
            wanted = check_index_options(m, ef_construction)  # after existence (contract §2)
            if pin.collection.dimensions > hnsw.MAX_INDEX_DIMENSIONS:
                raise InvalidArgumentError(
                    f"collection {name!r} holds {pin.collection.dimensions}-dimensional vectors; "
                    f"pgvector's HNSW index takes at most {hnsw.MAX_INDEX_DIMENSIONS} "
                    "dimensions (as halfvec), so it stays exact"
                )
            hnsw.build(conn, self._layout, pin.id, pin.collection, wanted)
        self._pins.remember(tenant, name, None)
        return wanted

    def drop_index(self, tenant: str, collection: str) -> bool:
        """Remove the collection's HNSW index (searches are exact again); False if none."""
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._connection() as conn, conn.transaction():
            pin = self._locked_pin(conn, tenant, name)
            hnsw.remove(conn, self._layout, pin.id)
        self._pins.remember(tenant, name, None)
        return pin.index is not None

    def describe_index(self, tenant: str, collection: str) -> HnswIndex | None:
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._connection() as conn:
            pin = self._pins.fresh(conn, tenant, name)
        if pin is None:
            raise CollectionNotFoundError(tenant, name)
        return pin.index

    def _locked_pin(self, conn: Conn, tenant: str, name: str) -> Pin:
        """The pin, its row locked until the transaction ends (index changes serialise)."""
        pin = self._pins.fresh(conn, tenant, name, lock="FOR UPDATE")
        if pin is None:
            raise CollectionNotFoundError(tenant, name)
        return pin
