"""A collection's readers: the statements of a text search, each the body of a PL/pgSQL
function created with the collection (and by the upgrade to version 5), dropped with it.

The server keeps a PL/pgSQL function's plans for the session, so a search does not plan
its statements each time. The plans are generic (``force_generic_plan``): one plan for
any keys, as the statements' shapes allow; left to choose, PL/pgSQL made a custom plan on
every call. The postings statement takes 0.28 ms a call so, against 0.57 ms planned each
time, and the payload statement 0.17 ms against 0.22 ms (docs/benchmarks.md, session 13).
A prepared statement lives on one connection, which a transaction-mode pooler does not
keep; nighdb prepares nothing by default. A filtered search keeps its statement inline,
planned with the filter's values.

* ``nigh_tread_<id>(bytea[])``: the postings of a search (``postings.term_rows`` without a
  filter);
* ``nigh_tfetch_<id>(text[])``: the payload (id, metadata, text) of items by id.

``CREATE OR REPLACE FUNCTION`` cannot change a function's result columns: a later layout
that changes them must drop the readers before creating them again.
"""

from __future__ import annotations

from psycopg import sql

from .postings import term_rows
from .schema import Conn, Layout, hashed_ids

__all__ = ["create_readers", "drop_readers"]


def _function(
    name: sql.Identifier, argument: str, columns: str, body: sql.Composed
) -> sql.Composed:
    # ``use_column``: the query's names are its tables' columns, not the result's.
    source = f"#variable_conflict use_column\nBEGIN RETURN QUERY {body.as_string()}; END"
    # A generic plan, kept: left to choose, PL/pgSQL planned the postings statement anew on
    # every call (a custom plan for each array of keys), 0.43 ms a call against 0.28 ms.
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {}({}) RETURNS TABLE ({}) LANGUAGE plpgsql STABLE"
        " SET plan_cache_mode = force_generic_plan AS {}"
    ).format(name, sql.SQL(argument), sql.SQL(columns), sql.Literal(source))


def create_readers(conn: Conn, layout: Layout, collection_id: int) -> None:
    """Create (or replace) the collection's readers."""
    conn.execute(
        _function(
            layout.text_reader(collection_id),
            "bytea[]",
            "kind integer, term_hash bytea, seg bigint, items text[], tfs integer[],"
            " lengths integer[], terms bytea, text_items bigint, text_length bigint",
            term_rows(layout, collection_id, sql.SQL("$1"), sql.SQL("")),
        )
    )
    conn.execute(
        _function(
            layout.payload_reader(collection_id),
            "text[]",
            "id text, metadata_json text, text text",
            sql.SQL("SELECT id, metadata_json, text FROM {} WHERE id_hash = ANY({})").format(
                layout.items(collection_id), hashed_ids(sql.SQL("$1"))
            ),
        )
    )


def drop_readers(conn: Conn, layout: Layout, collection_id: int) -> None:
    for reader in (layout.text_reader(collection_id), layout.payload_reader(collection_id)):
        conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}").format(reader))
