"""API keys in PostgreSQL (``nighdb.keys.KeyRegistry``): every node sees the same keys."""

from __future__ import annotations

from psycopg import sql

from ...keys import KEY_COLUMNS, KeyRecord
from .schema import Conn, Layout

__all__ = ["add_key", "find_key", "list_keys", "revoke_key"]


_COLUMNS = sql.SQL(KEY_COLUMNS)


def add_key(conn: Conn, layout: Layout, record: KeyRecord) -> None:
    # Idempotent for migrate: copying a key twice keeps one, and a revocation sticks.
    conn.execute(
        sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET revoked = {table}.revoked OR excluded.revoked"
        ).format(table=layout.api_keys, columns=_COLUMNS),
        (
            record.id,
            record.key_hash,
            record.tenant,
            record.admin,
            record.created_at,
            record.revoked,
        ),
    )


def find_key(conn: Conn, layout: Layout, key_id: str) -> KeyRecord | None:
    row = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE id = %s").format(_COLUMNS, layout.api_keys),
        (key_id,),
    ).fetchone()
    return None if row is None else KeyRecord.from_row(row)


def list_keys(conn: Conn, layout: Layout) -> list[KeyRecord]:
    rows = conn.execute(
        sql.SQL("SELECT {} FROM {} ORDER BY created_at, id").format(_COLUMNS, layout.api_keys)
    ).fetchall()
    return [KeyRecord.from_row(r) for r in rows]


def revoke_key(conn: Conn, layout: Layout, key_id: str) -> bool:
    cur = conn.execute(
        sql.SQL("UPDATE {} SET revoked = true WHERE id = %s AND NOT revoked").format(
            layout.api_keys
        ),
        (key_id,),
    )
    return cur.rowcount > 0
