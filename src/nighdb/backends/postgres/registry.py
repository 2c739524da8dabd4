"""The collections registry of the pgvector backend: the SQL over ``nigh_collections``.

A collection's row there is its *pin*: its integer id (which names its items table), the
``Collection`` it was created with, and its HNSW options while it has an index. This module
reads pins, inserts a new collection with its items table, lists collections and tenants,
and drops a collection with its table. It owns no state and takes no locks of its own
beyond the statement's: creating under the advisory lock is the caller's order of steps
(``store``), caching pins is ``pins``.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql
from psycopg.rows import TupleRow

from ...models import Collection
from .index import HnswIndex
from .readers import create_readers, drop_readers
from .schema import Conn, Layout

__all__ = [
    "Pin",
    "drop_collection",
    "insert_collection",
    "list_collections",
    "list_tenants",
    "read_pin",
]

_PIN_COLUMNS = sql.SQL(
    "id, name, dimensions, embedding_model, metric, hnsw_m, hnsw_ef_construction, text_analyzer"
)


@dataclass(frozen=True)
class Pin:
    """A collection's registry row: its id, its ``Collection`` and its index, if any."""

    id: int
    collection: Collection
    index: HnswIndex | None

    @staticmethod
    def from_row(row: TupleRow) -> Pin:
        cid, name, dims, model, metric, m, ef, analyzer = row
        index = None if m is None else HnswIndex(int(m), int(ef))
        collection = Collection(str(name), int(dims), str(model), str(metric), str(analyzer))
        return Pin(int(cid), collection, index)


def read_pin(conn: Conn, layout: Layout, tenant: str, name: str, *, lock: str = "") -> Pin | None:
    """The collection's pin, or None; ``lock`` is a row-lock clause such as ``FOR UPDATE``."""
    row = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE tenant = %s AND name = %s {}").format(
            _PIN_COLUMNS, layout.collections, sql.SQL(lock)
        ),
        (tenant, name),
    ).fetchone()
    return None if row is None else Pin.from_row(row)


def insert_collection(conn: Conn, layout: Layout, tenant: str, wanted: Collection) -> Pin:
    """Register ``wanted`` and create its items table (inside the caller's transaction)."""
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {} (tenant, name, dimensions, embedding_model, metric, text_analyzer) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING {}"
        ).format(layout.collections, _PIN_COLUMNS),
        (
            tenant,
            wanted.name,
            wanted.dimensions,
            wanted.embedding_model,
            wanted.metric,
            wanted.text_analyzer,
        ),
    ).fetchone()
    assert row is not None
    pin = Pin.from_row(row)
    for ddl in layout.items_ddl(pin.id, wanted.dimensions):
        conn.execute(ddl)
    for ddl in layout.postings_ddl(pin.id):
        conn.execute(ddl)
    create_readers(conn, layout, pin.id)
    return pin


def list_collections(conn: Conn, layout: Layout, tenant: str) -> list[Collection]:
    rows = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE tenant = %s ORDER BY name").format(
            _PIN_COLUMNS, layout.collections
        ),
        (tenant,),
    ).fetchall()
    return [Pin.from_row(r).collection for r in rows]


def list_tenants(conn: Conn, layout: Layout) -> list[str]:
    rows = conn.execute(
        sql.SQL("SELECT DISTINCT tenant FROM {} ORDER BY tenant").format(layout.collections)
    ).fetchall()
    return [str(r[0]) for r in rows]


def drop_collection(conn: Conn, layout: Layout, tenant: str, name: str) -> int:
    """Remove the collection and its table in one transaction; the number of items it held
    (0 if there was no such collection)."""
    with conn.transaction():
        row = conn.execute(
            sql.SQL("DELETE FROM {} WHERE tenant = %s AND name = %s RETURNING id").format(
                layout.collections
            ),
            (tenant, name),
        ).fetchone()
        if row is None:
            return 0
        table = layout.items(int(row[0]))
        # Wait for in-flight writers first, so the count is exactly what is removed.
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
        counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
        drop_readers(conn, layout, int(row[0]))
        for text_table in layout.text_tables(int(row[0])):
            conn.execute(sql.SQL("DROP TABLE {}").format(text_table))
    return 0 if counted is None else int(counted[0])
