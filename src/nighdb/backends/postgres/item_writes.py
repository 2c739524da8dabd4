"""``PostgresStore``'s writes of items: ``upsert``, ``delete`` and ``update``.

Each runs through ``Pins.run`` on the primary: the input checked against the pin, then one
transaction that writes the rows (``write``, ``rows``) and keeps the text postings exact
(``postings``), and notes the write for ``read_your_writes``. Kept apart from ``store`` so
that the store module stays about opening, collections and search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...models import ItemLike
from ...validation import (
    ItemBatch,
    Patch,
    check_delete_target,
    validate_items,
    validate_patches,
)
from . import postings, rows
from .connections import Connections, replayable
from .registry import Pin
from .rows import Where
from .schema import Conn
from .write import write_items

__all__ = ["ItemWrites"]


class ItemWrites(Connections):
    """``upsert``, ``delete`` and ``update`` of ``PostgresStore``."""

    def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int:
        batch_in = replayable(items)

        def prepare(pin: Pin) -> ItemBatch:
            c = pin.collection
            return validate_items(c.name, c.dimensions, c.metric, batch_in)

        def execute(conn: Conn, pin: Pin, batch: ItemBatch) -> int:
            if len(batch):
                layout, analyzer = self._layout, pin.collection.text_analyzer
                with conn.transaction():
                    seg = postings.lock_collection(conn, layout, pin.id)
                    distinct = list(dict.fromkeys(batch.ids))
                    old = postings.stored_texts(conn, layout, pin.id, rows.ids_where(distinct))
                    postings.remove_postings(conn, layout, pin.id, analyzer, old, len(old), seg)
                    # The last occurrence of an id is the one written.
                    final = dict(zip(batch.ids, batch.texts, strict=True))
                    new = write_items(
                        conn,
                        layout,
                        pin.id,
                        self._vector_info.oid,
                        batch,
                        meanwhile=lambda: postings.analyze_new(analyzer, final.items(), seg),
                    )
                    postings.add_postings(conn, layout, pin.id, new, len(final))
                self._router.wrote(conn)
            return len(batch)

        return self._pins.run(tenant, collection, prepare, execute)

    def delete(
        self,
        tenant: str,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
    ) -> int:
        def prepare(_pin: Pin) -> Where | None:
            wanted = check_delete_target(asked, filter)
            if wanted is None:
                return rows.where(filter)
            return rows.ids_where(wanted) if wanted else None

        def execute(conn: Conn, pin: Pin, where: Where | None) -> int:
            if where is None:
                return 0
            layout, analyzer = self._layout, pin.collection.text_analyzer
            with conn.transaction():
                seg = postings.lock_collection(conn, layout, pin.id)
                if filter == {}:  # every item: no need to analyze their texts
                    postings.clear_postings(conn, layout, pin.id)
                    removed = rows.delete_items(conn, layout.items(pin.id), where)
                else:
                    # The rows deleted are the ones tombstoned: a metadata-only update takes
                    # no collection lock and may change which rows a filter matches.
                    old = rows.delete_items_returning(conn, layout.items(pin.id), where)
                    postings.remove_postings(conn, layout, pin.id, analyzer, old, len(old), seg)
                    postings.after_removal(conn, layout, pin.id)
                    removed = len(old)
            self._router.wrote(conn)
            return removed

        asked = None if ids is None else replayable(ids)
        return self._pins.run(tenant, collection, prepare, execute)

    def update(self, tenant: str, collection: str, patches: Sequence[Mapping[str, Any]]) -> int:
        """Contract §13: every patch validated, then applied in one transaction
        (``rows.update_items``)."""
        asked = replayable(patches)

        def prepare(pin: Pin) -> list[Patch]:
            c = pin.collection
            return validate_patches(c.name, c.dimensions, c.metric, asked)

        def execute(conn: Conn, pin: Pin, checked: list[Patch]) -> int:
            layout, analyzer = self._layout, pin.collection.text_analyzer
            table = layout.items(pin.id)
            retexted = sorted({p.id for p in checked if p.text is not None})
            with conn.transaction():
                if retexted:
                    seg = postings.lock_collection(conn, layout, pin.id)
                    where = rows.ids_where(retexted)
                    old = postings.stored_texts(conn, layout, pin.id, where)
                    postings.remove_postings(conn, layout, pin.id, analyzer, old, 0, seg)
                updated = rows.update_items(conn, table, pin.collection.name, checked)
                if retexted:
                    stored = postings.stored_texts(conn, layout, pin.id, where)
                    new = postings.analyze_new(analyzer, stored, seg)
                    postings.add_postings(conn, layout, pin.id, new, 0)
            self._router.wrote(conn)
            return updated

        return self._pins.run(tenant, collection, prepare, execute)
