"""``SQLiteStore``'s reads of stored items: ``list_ids``, ``scroll`` and ``fetch``.

Each reads one snapshot (``Transactions._read_collection``). Kept apart from ``store`` so
that the store module stays about opening, collections and search.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import apsw
import numpy as np

from ...filters import parse_filter
from ...models import Item
from ...validation import check_collection_name, check_ids, check_page, check_scroll, check_tenant
from .filter import compile_filter
from .schema import Pin, items_table
from .transactions import Transactions

__all__ = ["ItemReads"]


class ItemReads(Transactions):
    """``list_ids``, ``scroll`` and ``fetch`` of ``SQLiteStore``."""

    def list_ids(
        self,
        tenant: str,
        collection: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> list[str]:
        tenant = check_tenant(tenant)
        name = check_collection_name(collection)
        with self._transaction(write=False) as conn:
            pin = self._require(conn, tenant, name)
            after, limit = check_page(after, limit)
            tree = parse_filter(filter)
            where, params = ("1", []) if tree is None else compile_filter(tree)
            table = items_table(pin.id)
            if after is None and limit is None:
                rows = conn.execute(f"SELECT id FROM {table} WHERE {where}", params).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT id FROM {table} WHERE id > ? AND {where} ORDER BY id LIMIT ?",
                    (
                        after if after is not None else "",
                        *params,
                        -1 if limit is None else limit,
                    ),
                ).fetchall()
        return [str(r[0]) for r in rows]

    def scroll(
        self,
        tenant: str,
        collection: str,
        *,
        filter: Mapping[str, Any] | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Item]:
        def body(conn: apsw.Connection, pin: Pin) -> list[Item]:
            tree = parse_filter(filter)
            start, count = check_scroll(after, limit)
            where, params = ("1", []) if tree is None else compile_filter(tree)
            rows = conn.execute(
                f"SELECT id, vector, json(metadata), text FROM {items_table(pin.id)} "
                f"WHERE id > ? AND {where} ORDER BY id LIMIT ?",
                ("" if start is None else start, *params, count),
            )
            return [
                Item(
                    str(i), np.frombuffer(v, dtype="<f4").astype(np.float32), json.loads(m), str(t)
                )
                for i, v, m, t in rows
            ]

        return self._read_collection(tenant, collection, body)

    def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        def body(conn: apsw.Connection, pin: Pin) -> list[Item]:
            wanted = check_ids(ids)
            if not wanted:
                return []
            rows = conn.execute(
                f"SELECT id, vector, json(metadata), text FROM {items_table(pin.id)} "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(wanted, ensure_ascii=False),),
            )
            found = {
                str(i): Item(
                    str(i), np.frombuffer(v, dtype="<f4").astype(np.float32), json.loads(m), str(t)
                )
                for i, v, m, t in rows
            }
            return [found[i] for i in dict.fromkeys(wanted) if i in found]

        return self._read_collection(tenant, collection, body)
