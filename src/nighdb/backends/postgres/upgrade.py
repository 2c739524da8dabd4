"""In-place upgrades of an older PostgreSQL store to this code's layout (``SCHEMA_VERSION``).

``STEPS`` is an ordered list of ``(target_version, function)``; a database at version ``v``
runs every step whose target is above ``v``, in order, in one transaction, under the same
advisory lock as the bootstrap, and ends at the newest target. Each step must apply to a
version-1 database by itself (steps are written independently, and a database may skip a
version whose code it never ran). A fresh database is created at the newest version and
runs none.

Version 2: items are keyed by the SHA-256 of the id (``schema``: an id the contract allows
can exceed btree's entry size) and get the id-order and metadata indexes.

Version 3: text search (contract §14): the analyzer pin and the collection statistics on
the registry (version 3's postings, one row per posting, are built by version 4 now).

Version 4: the postings as segments (``textsegments``): the segment counter on the registry;
every collection's version-3 postings table dropped and its segments, registry and
tombstones created, its postings backfilled from the texts already stored, a segment per
10,000 items.

Version 5: the rare terms of a segment share their bucket's row (``textsegments``): every
collection's postings table gets the ``terms`` column, the term key of each posting of a
shared row. The rows already stored are each one term's own (``terms`` NULL), as version 5
writes the terms of many postings too: nothing is rewritten. Each collection gets its
readers, the functions holding a text search's statements (``readers``).
"""

from __future__ import annotations

from collections.abc import Callable

from psycopg import sql

from .schema import SCHEMA_VERSION, Conn, Layout, id_hash, lock_key

__all__ = ["STEPS", "upgrade"]

Step = Callable[[Conn, Layout], None]


def _items_tables(conn: Conn, layout: Layout) -> list[int]:
    rows = conn.execute(sql.SQL("SELECT id FROM {} ORDER BY id").format(layout.collections))
    return [int(r[0]) for r in rows.fetchall()]


def _hash_keyed_items(conn: Conn, layout: Layout) -> None:
    """Version 2: ``id_hash`` primary key, id-order btree, GIN on ``metadata``."""
    for collection_id in _items_tables(conn, layout):
        table = layout.items(collection_id)
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN id_hash bytea").format(table))
        conn.execute(sql.SQL("UPDATE {} SET id_hash = {}").format(table, id_hash(sql.SQL("id"))))
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN id_hash SET NOT NULL").format(table))
        # The version-1 key is the id itself; its constraint's name is PostgreSQL's choice.
        row = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            (table.as_string(conn),),
        ).fetchone()
        if row is not None:
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    table, sql.Identifier(str(row[0]))
                )
            )
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id_hash)").format(table))
        for ddl in layout.items_indexes_ddl(collection_id):
            conn.execute(ddl)


def _text_statistics(conn: Conn, layout: Layout) -> None:
    """Version 3: ``text_analyzer``/``text_items``/``text_length`` on the registry."""
    _add_columns(
        conn,
        layout,
        (
            ("text_analyzer", "text NOT NULL DEFAULT 'plain'"),
            ("text_items", "bigint NOT NULL DEFAULT 0"),
            ("text_length", "bigint NOT NULL DEFAULT 0"),
        ),
    )


def _add_columns(conn: Conn, layout: Layout, columns: tuple[tuple[str, str], ...]) -> None:
    for column, ddl in columns:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                layout.collections, sql.Identifier(column), sql.SQL(ddl)
            )
        )


def _text_segments(conn: Conn, layout: Layout) -> None:
    """Version 4: ``text_segment`` on the registry and every collection's postings as
    segments, backfilled from the stored texts. Reads only the items' ``id`` and ``text``,
    which every version has, and adds the version-3 columns if missing, so it applies to
    any older database."""
    # postings imports schema, as this module does
    from .postings import add_postings, analyze_new, lock_collection

    _text_statistics(conn, layout)
    _add_columns(conn, layout, (("text_segment", "bigint NOT NULL DEFAULT 0"),))
    conn.execute(layout.array_cat_ddl())
    rows = conn.execute(sql.SQL("SELECT id, text_analyzer FROM {}").format(layout.collections))
    for raw_id, analyzer in rows.fetchall():
        cid = int(raw_id)
        version_3 = layout.table(f"nigh_postings_{cid}")
        for table in (version_3, *layout.text_tables(cid)):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        for ddl in layout.postings_ddl(cid):
            conn.execute(ddl)
        conn.execute(
            sql.SQL(
                "UPDATE {} SET text_items = 0, text_length = 0, text_segment = 0 WHERE id = %s"
            ).format(layout.collections),
            (cid,),
        )
        # A segment per _BACKFILL_ITEMS, read through a server-side cursor (memory bounded
        # whatever the collection's size), merged as any writes' segments are.
        with conn.cursor(name=f"nigh_backfill_{cid}") as texts:
            texts.execute(sql.SQL("SELECT id, text FROM {}").format(layout.items(cid)))
            while chunk := [(str(i), str(t)) for i, t in texts.fetchmany(_BACKFILL_ITEMS)]:
                # The counter's next id: a merge of the earlier chunks has taken ids too.
                seg = lock_collection(conn, layout, cid)
                add_postings(conn, layout, cid, analyze_new(str(analyzer), chunk, seg), len(chunk))


_BACKFILL_ITEMS = 10_000


def _shared_rows(conn: Conn, layout: Layout) -> None:
    """Version 5: the ``terms`` column of every collection's postings table, if the table
    is there (step 4 creates the tables with it), and the collection's readers."""
    from .readers import create_readers  # readers import schema, as this module does

    for collection_id in _items_tables(conn, layout):
        table = layout.postings(collection_id)
        conn.execute(
            sql.SQL("ALTER TABLE IF EXISTS {} ADD COLUMN IF NOT EXISTS terms bytea").format(table)
        )
        conn.execute(
            sql.SQL("ALTER TABLE IF EXISTS {} ALTER COLUMN terms SET STORAGE EXTERNAL").format(
                table
            )
        )
        create_readers(conn, layout, collection_id)


STEPS: list[tuple[int, Step]] = [
    (2, _hash_keyed_items),
    (3, _text_statistics),
    (4, _text_segments),
    (5, _shared_rows),
]


def _stored_version(conn: Conn, layout: Layout) -> int:
    row = conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = 'schema_version'").format(layout.meta)
    ).fetchone()
    return 1 if row is None else int(str(row[0]))


def upgrade(conn: Conn, layout: Layout) -> int:
    """Bring the store in ``layout`` to ``SCHEMA_VERSION``; return the version it was at.

    A no-op (one read) on a current database. Concurrent openers wait on the lock and then
    find the work done.
    """
    before = _stored_version(conn, layout)
    if before >= SCHEMA_VERSION:
        return before
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("bootstrap", layout.schema),))
        before = _stored_version(conn, layout)
        for target, step in STEPS:
            if before < target <= SCHEMA_VERSION:
                step(conn, layout)
        if before < SCHEMA_VERSION:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ).format(layout.meta),
                (str(SCHEMA_VERSION),),
            )
    return before
