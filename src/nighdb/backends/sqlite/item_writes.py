"""``SQLiteStore``'s writes of items: ``upsert``, ``delete`` and ``update``.

Each checks its whole input before taking the write lock, then writes in one ``BEGIN
IMMEDIATE`` transaction that bumps the collection's version and keeps the text postings
exact (``textindex``). An upsert's rows go in by one statement per chunk (``item_insert``)
run in a worker thread, while this thread analyses the texts: SQLite holds no GIL, so the
two use both cores, and the postings are built from the analysis and the rowids once both
are done. Kept apart from ``store`` so that the store module stays about opening,
collections and search.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ...filters import parse_filter
from ...jsontext import encode_json
from ...models import ItemLike
from ...text import I64, BatchArrays, analyze_batch_arrays
from ...validation import (
    ItemBatch,
    apply_patches,
    check_collection_name,
    check_delete_target,
    check_tenant,
    validate_items,
    validate_patches,
)
from .filter import compile_filter
from .item_insert import insert_items
from .schema import items_table
from .textindex import (
    clear_postings,
    index_written,
    reindex_rows,
    remove_postings,
    stored_texts,
)
from .transactions import Transactions
from .worker import Worker

__all__ = ["ItemWrites"]

# Batches with fewer texts than this are written without a worker thread: it costs more.
_THREAD_TEXTS = 256


def _small(batch: ItemBatch) -> bool:
    """Too few texts to analyse for a thread to pay (or none: nothing to overlap)."""
    return len(batch) - batch.texts.count("") < _THREAD_TEXTS


def _analysis(batch: ItemBatch, analyzer: str) -> tuple[I64 | None, BatchArrays]:
    """The analysis of the texts ``batch`` writes (a repeated id's last one, as its row's), and
    which of the batch's positions they are at (``None``: all, no id being repeated)."""
    if len(set(batch.ids)) == len(batch):
        return None, analyze_batch_arrays(batch.texts, analyzer)
    last = {item_id: position for position, item_id in enumerate(batch.ids)}
    keep = np.array(sorted(last.values()), dtype=np.int64)
    return keep, analyze_batch_arrays([batch.texts[p] for p in keep.tolist()], analyzer)


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
        c = pin.collection
        batch = validate_items(name, c.dimensions, c.metric, items)
        if not len(batch):
            return 0
        with self._transaction(write=True) as conn:
            current = self._require(conn, tenant, name)
            if current.id != pin.id:
                # Dropped and re-created meanwhile: validate against the new pin.
                c = current.collection
                batch = validate_items(name, c.dimensions, c.metric, items)
            version = self._bump(conn, current.id)
            old_texts = stored_texts(conn, current.id, list(dict.fromkeys(batch.ids)))
            table = items_table(current.id)
            # The insert runs in a worker thread as one long SQLite call without the GIL, while
            # this thread analyses the texts (that needs no rowid). The other way round, the
            # worker's analysis would hold the GIL this thread needs to reach the call.
            with Worker(
                lambda: insert_items(conn, table, batch, version), inline=_small(batch)
            ) as w:
                keep, analysed = _analysis(batch, c.text_analyzer)
                rowids = w.result()
            if keep is not None:
                rowids = rowids[keep]
            index_written(conn, current.id, c.text_analyzer, rowids, analysed, old_texts)
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
