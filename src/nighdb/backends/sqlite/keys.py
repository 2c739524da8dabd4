"""API keys in the SQLite file (``nighdb.keys.KeyRegistry``): the ``nigh_api_keys`` table.

Each function runs inside the caller's transaction (``SQLiteStore`` opens it), so the
store keeps one place that begins, commits and translates errors.
"""

from __future__ import annotations

import apsw

from ...keys import KEY_COLUMNS, KeyRecord

__all__ = ["add_key", "find_key", "list_keys", "revoke_key"]


def add_key(conn: apsw.Connection, record: KeyRecord) -> None:
    # Idempotent for migrate: copying a key twice keeps one, and a revocation sticks.
    conn.execute(
        "INSERT INTO nigh_api_keys (id, key_hash, tenant, admin, created_at, revoked) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "revoked = max(revoked, excluded.revoked)",
        (
            record.id,
            record.key_hash,
            record.tenant,
            int(record.admin),
            record.created_at,
            int(record.revoked),
        ),
    )


def find_key(conn: apsw.Connection, key_id: str) -> KeyRecord | None:
    row = conn.execute(
        f"SELECT {KEY_COLUMNS} FROM nigh_api_keys WHERE id = ?", (key_id,)
    ).fetchone()
    return None if row is None else KeyRecord.from_row(row)


def list_keys(conn: apsw.Connection) -> list[KeyRecord]:
    rows = conn.execute(
        f"SELECT {KEY_COLUMNS} FROM nigh_api_keys ORDER BY created_at, id"
    ).fetchall()
    return [KeyRecord.from_row(r) for r in rows]


def revoke_key(conn: apsw.Connection, key_id: str) -> bool:
    conn.execute("UPDATE nigh_api_keys SET revoked = 1 WHERE id = ? AND revoked = 0", (key_id,))
    return int(conn.changes()) > 0
