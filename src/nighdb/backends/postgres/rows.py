"""The item statements of the pgvector backend other than upsert and search.

Counting, deleting, listing ids and scrolling by filter; fetching by id; and patching items
in place (``update``). Each function takes an open connection and the collection's items
table, and gets its input already validated (``store`` checks it in the contract's order
before any of this runs). The filter arrives as a ``Where``: the SQL of
``filter.compile_filter`` and its bound parameters (``where``). Upserts are ``write``'s job
and searches ``search``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from psycopg import sql
from psycopg.adapt import PyFormat

from ...filters import parse_filter
from ...jsontext import encode_json
from ...models import Item
from ...validation import Patch, apply_patches
from .filter import compile_filter, filter_document, prepare_option
from .schema import ID_ORDER, Conn, after_id, hashed_ids, id_hash

__all__ = [
    "Where",
    "count_items",
    "delete_items",
    "fetch_items",
    "ids_where",
    "list_item_ids",
    "scroll_items",
    "update_items",
    "where",
]

Where = tuple[sql.Composable, list[object]]
"""A WHERE expression and its parameters."""


def where(filter: Mapping[str, Any] | None) -> Where:
    """A filter as a WHERE expression and its parameters (no filter: ``true``)."""
    tree = parse_filter(filter)
    if tree is None:
        return sql.SQL("true"), []
    return compile_filter(tree)


def ids_where(ids: list[str]) -> Where:
    """The rows with these ids."""
    return sql.SQL("id_hash = ANY({})").format(hashed_ids(sql.Placeholder())), [ids]


def count_items(conn: Conn, table: sql.Identifier, condition: Where) -> int:
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, condition[0]),
        condition[1],
        prepare=prepare_option(condition[1]),
    ).fetchone()
    return 0 if row is None else int(row[0])


def delete_items(conn: Conn, table: sql.Identifier, condition: Where) -> int:
    # One statement, so one transaction (the connection autocommits): all or nothing.
    cur = conn.execute(
        sql.SQL("DELETE FROM {} WHERE {}").format(table, condition[0]),
        condition[1],
        prepare=prepare_option(condition[1]),
    )
    return cur.rowcount


def delete_items_returning(
    conn: Conn, table: sql.Identifier, condition: Where
) -> list[tuple[str, str]]:
    """Delete the rows matching ``condition``; the (id, text) of each row deleted."""
    cur = conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} RETURNING id, text").format(table, condition[0]),
        condition[1],
        prepare=prepare_option(condition[1]),
    )
    return [(str(i), str(t)) for i, t in cur.fetchall()]


def update_items(conn: Conn, table: sql.Identifier, collection: str, patches: list[Patch]) -> int:
    """Contract §13: in one transaction, the patched rows are locked in id order (``FOR
    UPDATE``: a concurrent upsert of the same id waits, or is waited for), read, patched and
    written back with their filter copy of the metadata."""
    if not patches:
        return 0
    with conn.transaction():
        found = conn.execute(
            sql.SQL(
                "SELECT id, metadata_json FROM {} WHERE id_hash = ANY({}) "
                'ORDER BY id COLLATE "C" FOR UPDATE'
            ).format(table, hashed_ids(sql.Placeholder())),
            (sorted({p.id for p in patches}),),
        ).fetchall()
        stored = {str(i): json.loads(m) for i, m in found}
        rows = apply_patches(collection, patches, stored)
        params = []
        for r in rows:
            meta = None if r.metadata is None else encode_json(r.metadata)
            doc = None if meta is None else filter_document(meta, r.metadata)
            params.append((r.vector, doc, meta, r.text, r.id))
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "UPDATE {} SET embedding = coalesce(%s, embedding), "
                    "metadata = coalesce(%s::jsonb, metadata), "
                    "metadata_json = coalesce(%s::text, metadata_json), "
                    "text = coalesce(%s::text, text) WHERE id_hash = {}"
                ).format(table, id_hash(sql.SQL("%s::text"))),
                params,
            )
    return len(patches)


def fetch_items(conn: Conn, table: sql.Identifier, wanted: list[str]) -> list[Item]:
    """The stored items with these ids, in the order asked, each once; absent ids are
    omitted. Vectors come back as float32 arrays, bit for bit as stored."""
    if not wanted:
        return []
    rows = conn.execute(
        sql.SQL("SELECT id, embedding, metadata_json, text FROM {} WHERE id_hash = ANY({})").format(
            table, hashed_ids(sql.Placeholder(format=PyFormat.BINARY))
        ),
        (wanted,),
        binary=True,
    ).fetchall()
    found = {
        str(i): Item(str(i), vector, json.loads(meta), str(text)) for i, vector, meta, text in rows
    }
    return [found[i] for i in dict.fromkeys(wanted) if i in found]


def list_item_ids(
    conn: Conn, table: sql.Identifier, after: str | None, limit: int | None, condition: Where
) -> list[str]:
    """Matching ids: all of them, unordered, when neither ``after`` nor ``limit`` is given;
    otherwise the page after ``after`` in id order."""
    where_sql, params = condition
    if after is None and limit is None:
        everything = sql.SQL("SELECT id FROM {} WHERE {}").format(table, where_sql)
        rows = conn.execute(everything, params, prepare=prepare_option(params)).fetchall()
    else:
        cursor = "" if after is None else after
        paged = sql.SQL("SELECT id FROM {} WHERE {} AND {} ORDER BY {} LIMIT %s")
        rows = conn.execute(
            paged.format(table, after_id(sql.Placeholder()), where_sql, ID_ORDER),
            [cursor, cursor, *params, limit],
            prepare=prepare_option(params),
        ).fetchall()
    return [str(r[0]) for r in rows]


def scroll_items(
    conn: Conn, table: sql.Identifier, condition: Where, after: str, limit: int
) -> list[Item]:
    """The next ``limit`` matching items after id ``after``, in id order."""
    where_sql, params = condition
    rows = conn.execute(
        sql.SQL(
            "SELECT id, embedding, metadata_json, text FROM {} WHERE {} AND {} ORDER BY {} LIMIT %s"
        ).format(table, after_id(sql.Placeholder()), where_sql, ID_ORDER),
        [after, after, *params, limit],
        binary=True,
        prepare=prepare_option(params),
    ).fetchall()
    return [Item(str(i), v, json.loads(m), str(t)) for i, v, m, t in rows]
