"""``SQLiteStore``'s writes of items: ``upsert``, ``delete`` and ``update``.

Each checks its whole input before taking the write lock, then writes in one ``BEGIN
IMMEDIATE`` transaction that bumps the collection's version and keeps the text postings
exact (``textindex``). Kept apart from ``store`` so that the store module stays about
opening, collections and search.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import numpy as np

from ...filters import parse_filter
from ...jsontext import encode_json
from ...models import ItemLike
from ...validation import (
    apply_patches,
    check_collection_name,
    check_delete_target,
    check_tenant,
    validate_items,
    validate_patches,
)
from .filter import compile_filter
from .schema import items_table
from .textindex import (
    clear_postings,
    index_written,
    reindex_rows,
    remove_postings,
    stored_texts,
)
from .transactions import Transactions

__all__ = ["ItemWrites"]

# Rows written per executemany call.
_WRITE_CHUNK = 10_000


class ItemWrites(Transactions):
    """``upsert``, ``delete`` and ``update`` of ``SQLiteStore``."""

    def upsert(self, tenant: str, collection: str, items: Sequence[ItemLike]) -> int:
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        if isinstance(items, Iterator):
            items = list(items)  # may be validated twice (see below)
        with self._transaction(write=False) as conn:
            pin = self._require(conn, tenant, name)
        # Validate the whole batch before taking the write lock (contract §4: all or nothing).
        pin_dims, pin_metric = pin.collection.dimensions, pin.collection.metric
        batch = validate_items(name, pin_dims, pin_metric, items)
        if not len(batch):
            return 0
        with self._transaction(write=True) as conn:
            current = self._require(conn, tenant, name)
            if current.id != pin.id:
                # Dropped and re-created meanwhile: validate against the new pin.
                batch = validate_items(
                    name, current.collection.dimensions, current.collection.metric, items
                )
            version = self._bump(conn, current.id)
            table = items_table(current.id)
            distinct_ids = list(dict.fromkeys(batch.ids))
            old_texts = stored_texts(conn, current.id, distinct_ids)
            sql = (
                f"INSERT INTO {table} (id, vector, metadata, text, seq) "
                "VALUES (?, ?, jsonb(?), ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET vector = excluded.vector, "
                "metadata = excluded.metadata, text = excluded.text, seq = excluded.seq "
                "RETURNING rowid"
            )
            # Each written row's rowid and text (a repeated id's last text wins, as its row's
            # does): the postings are built from them, with no read of the rows back.
            written: dict[int, str] = {}
            vectors = np.ascontiguousarray(batch.vectors, dtype="<f4")
            for start in range(0, len(batch), _WRITE_CHUNK):
                stop = start + _WRITE_CHUNK
                # Rows as a zip of columns: no Python code runs per row. apsw binds a numpy
                # row (a contiguous little-endian float32 buffer) as a blob of its bytes.
                ids = batch.ids[start:stop]
                rows = zip(
                    ids,
                    vectors[start:stop],
                    batch.metadata_json[start:stop],
                    batch.texts[start:stop],
                    [version] * len(ids),
                    strict=True,
                )
                returned = conn.executemany(sql, rows).fetchall()
                rowids = [int(cast(int, r)) for (r,) in returned]
                written.update(zip(rowids, batch.texts[start:stop], strict=True))
            analyzer = current.collection.text_analyzer
            index_written(conn, current.id, analyzer, list(written.items()), old_texts)
        return len(batch)

    def delete(
        self,
        tenant: str,
        collection: str,
        ids: Sequence[str] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
    ) -> int:
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._transaction(write=False) as conn:
            self._require(conn, tenant, name)
        wanted = check_delete_target(ids, filter)
        if wanted is None:
            tree = parse_filter(filter)
            where, params = ("1", []) if tree is None else compile_filter(tree)
        elif not wanted:
            return 0
        else:
            # One statement whatever the number of ids: they travel as one JSON array.
            where, params = (
                "id IN (SELECT value FROM json_each(?))",
                [json.dumps(wanted, ensure_ascii=False)],
            )
        with self._transaction(write=True) as conn:
            pin = self._require(conn, tenant, name)
            if where == "1":
                clear_postings(conn, pin.id)
            else:
                remove_postings(conn, pin.id, pin.collection.text_analyzer, where, params)
            conn.execute(f"DELETE FROM {items_table(pin.id)} WHERE {where}", params)
            removed = int(conn.changes())
            if removed:
                # Other connections' caches see the new version and reload (rows went away).
                self._bump(conn, pin.id)
        return removed

    def update(self, tenant: str, collection: str, patches: Sequence[Mapping[str, Any]]) -> int:
        """Contract §13: every patch validated, then the stored rows read and written in one
        write transaction (so a concurrent upsert of the same id lands before or after it,
        never in between); the changed rows get the new version as ``seq`` like an upsert's,
        so every cache refreshes them."""
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        if isinstance(patches, Iterator):
            patches = list(patches)
        with self._transaction(write=False) as conn:
            pin = self._require(conn, tenant, name)
        c = pin.collection
        checked = validate_patches(name, c.dimensions, c.metric, patches)
        if not checked:
            return 0
        with self._transaction(write=True) as conn:
            current = self._require(conn, tenant, name)
            if current.id != pin.id:  # dropped and re-created meanwhile
                c = current.collection
                checked = validate_patches(name, c.dimensions, c.metric, patches)
            table = items_table(current.id)
            wanted = sorted({p.id for p in checked})
            stored = {
                str(i): json.loads(m)
                for i, m in conn.execute(
                    f"SELECT id, json(metadata) FROM {table} "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(wanted, ensure_ascii=False),),
                )
            }
            rows = apply_patches(name, checked, stored)
            retexted = sorted({r.id for r in rows if r.text is not None})
            old_texts = stored_texts(conn, current.id, retexted)
            version = self._bump(conn, current.id)
            conn.executemany(
                f"UPDATE {table} SET vector = coalesce(?, vector), "
                "metadata = coalesce(jsonb(?), metadata), text = coalesce(?, text), seq = ? "
                "WHERE id = ?",
                [
                    (
                        None if r.vector is None else np.ascontiguousarray(r.vector, dtype="<f4"),
                        None if r.metadata is None else encode_json(r.metadata),
                        r.text,
                        version,
                        r.id,
                    )
                    for r in rows
                ],
            )
            if retexted:
                analyzer = current.collection.text_analyzer
                reindex_rows(conn, current.id, analyzer, retexted, old_texts)
        return len(checked)
