"""``PostgresStore``'s reads of stored items: ``fetch``, ``list_ids`` and ``scroll``.

Each runs through ``Pins.run`` on a replica when there is one (``Connections._read``); the
statements are ``rows``'. Kept apart from ``store`` so that the store module stays about
opening, collections and search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...models import Item
from ...validation import check_ids, check_page, check_scroll
from . import rows
from .connections import Connections, replayable
from .registry import Pin
from .rows import Where
from .schema import Conn

__all__ = ["ItemReads"]


class ItemReads(Connections):
    """``fetch``, ``list_ids`` and ``scroll`` of ``PostgresStore``."""

    def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        """The stored items with these ids, in the order asked, each once; absent ids are
        omitted. Vectors come back as float32 arrays, bit for bit as stored."""

        def execute(conn: Conn, pin: Pin, wanted: list[str]) -> list[Item]:
            return rows.fetch_items(conn, self._layout.items(pin.id), wanted)

        asked = replayable(ids)
        return self._pins.run(
            tenant, collection, lambda _pin: check_ids(asked), execute, via=self._read
        )

    def list_ids(
        self,
        tenant: str,
        collection: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> list[str]:
        def prepare(_pin: Pin) -> tuple[str | None, int | None, Where]:
            start, count = check_page(after, limit)
            return start, count, rows.where(filter)

        def execute(conn: Conn, pin: Pin, page: tuple[str | None, int | None, Where]) -> list[str]:
            return rows.list_item_ids(conn, self._layout.items(pin.id), *page)

        return self._pins.run(tenant, collection, prepare, execute, via=self._read)

    def scroll(
        self,
        tenant: str,
        collection: str,
        *,
        filter: Mapping[str, Any] | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Item]:
        def prepare(_pin: Pin) -> tuple[Where, str, int]:
            where = rows.where(filter)
            start, count = check_scroll(after, limit)
            return where, "" if start is None else start, count

        def execute(conn: Conn, pin: Pin, page: tuple[Where, str, int]) -> list[Item]:
            return rows.scroll_items(conn, self._layout.items(pin.id), *page)

        return self._pins.run(tenant, collection, prepare, execute, via=self._read)
