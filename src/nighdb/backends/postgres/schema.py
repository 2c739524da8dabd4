"""PostgreSQL layout of the pgvector backend: its tables, their names and their keys.

Layout, in the connection's current schema (the first existing schema on ``search_path``):

* ``nigh_meta(key, value)``: the schema version;
* ``nigh_collections``: one row per (tenant, name) pin. Its identity ``id`` names the
  collection's items table and is never reused, so a dropped collection's table name never
  comes back. ``hnsw_m``/``hnsw_ef_construction`` are set while the collection has an index;
* ``nigh_api_keys``: the service's API keys, hashed (``nighdb.keys``);
* ``nigh_items_<id>``: one row per item: ``embedding vector(N)``; ``metadata`` jsonb for
  filtering (see ``filter.filter_document``); ``metadata_json``, the canonical JSON
  text exactly as validated (what searches return: jsonb would reorder keys and rewrite
  numbers such as ``1e+300``); ``text``;
* ``nigh_tpost_<id>``, ``nigh_tsegs_<id>``, ``nigh_ttomb_<id>``: the text postings of the
  collection's items as segments, a row per frequent term or per bucket of rare terms of
  each segment, their registry and their tombstones (``textsegments``), with
  ``nigh_collections.text_items``/``text_length`` for BM25 (contract §14) and
  ``text_segment``, the last segment id handed out;
* ``nigh_tread_<id>(bytea[])``, ``nigh_tfetch_<id>(text[])``: the collection's readers,
  PL/pgSQL functions holding a text search's statements (``readers``).

  An items table's primary key is ``id_hash``, the SHA-256 of the id's UTF-8 bytes, not the
  id itself: a btree entry may not exceed about 2,700 bytes, and an id the contract allows (1,024
  characters of four bytes) is 4,096. Id order (paging, scrolling) is served by a btree
  on the id's first 512 characters (at most 2,048 bytes), the full id breaking ties:
  comparing the prefixes first, then the ids, is the ids' own byte order. A GIN index
  (``jsonb_path_ops``) on ``metadata`` serves the equality filters (``filter``).

Text columns that are sorted or paged (``id``, ``tenant``, ``name``) use ``COLLATE "C"``: byte
order, the same on every server whatever its locale, and the same as SQLite's.

No user-supplied text ever reaches SQL: table and function names come from the integer id
and the schema's name, quoted with ``psycopg.sql.Identifier``; every value is a bound
parameter.

The registry tables are created by ``bootstrap``, driver errors are translated by
``driver_errors``, and connections open with ``conninfo``'s options.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

__all__ = [
    "Conn",
    "SCHEMA_VERSION",
    "Layout",
    "after_id",
    "hashed_ids",
    "id_hash",
    "ID_HASH",
    "ID_ORDER",
    "ID_PREFIX",
    "lock_key",
    "READER_PREFIXES",
]

Conn = psycopg.Connection[TupleRow]
"""A connection of the pool (rows as tuples)."""

READER_PREFIXES = ("nigh_tread_", "nigh_tfetch_")
"""The names of a collection's reader functions (``readers``), before its id."""

SCHEMA_VERSION = 5
"""The layout this code creates and reads; older databases are upgraded (``upgrade``)."""

ID_PREFIX = 512
"""Characters of the id in the id-order index: 4 bytes each at most, under btree's limit."""

ID_ORDER = sql.SQL("left(id, {n}), id").format(n=sql.Literal(ID_PREFIX))
"""``ORDER BY`` this for id (byte) order served by the id-order index."""

ID_HASH = "sha256(convert_to({}, 'UTF8'))"
"""The primary key of an id (the database is UTF8, checked by ``bootstrap``)."""


def hashed_ids(ids: sql.Composable) -> sql.Composed:
    """The primary keys of a ``text[]`` of ids, for ``id_hash = ANY(...)``."""
    return sql.SQL("ARRAY(SELECT {} FROM unnest({}::text[]) AS v)").format(
        sql.SQL(ID_HASH).format(sql.SQL("v")), ids
    )


def id_hash(value: sql.Composable) -> sql.Composed:
    """The primary key of one id (an expression or a placeholder)."""
    return sql.SQL(ID_HASH).format(value)


def after_id(cursor: sql.Composable) -> sql.Composed:
    """``id > cursor``, with the prefix bound that lets the id-order index start there.

    ``cursor`` appears twice: pass its parameter twice."""
    return sql.SQL("left(id, {n}) >= left({c}::text, {n}) AND id > {c}::text").format(
        n=sql.Literal(ID_PREFIX), c=cursor
    )


_OPS = {"cosine": "vector_cosine_ops", "l2": "vector_l2_ops", "ip": "vector_ip_ops"}
# The functions behind <=>, <->, <#>: the same C code as the operators, but an ORDER BY on a
# function call is never served by an approximate index (the planner matches operators only).
_EXACT = {"cosine": "cosine_distance", "l2": "l2_distance", "ip": "vector_negative_inner_product"}
_OPERATOR = {"cosine": "<=>", "l2": "<->", "ip": "<#>"}


@dataclass(frozen=True)
class Layout:
    """Where the store's objects live: its schema, and the schema holding pgvector."""

    schema: str
    vector_schema: str

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    @property
    def collections(self) -> sql.Identifier:
        return self.table("nigh_collections")

    @property
    def api_keys(self) -> sql.Identifier:
        return self.table("nigh_api_keys")

    @property
    def meta(self) -> sql.Identifier:
        return self.table("nigh_meta")

    def items(self, collection_id: int) -> sql.Identifier:
        """The items table of a collection: named from our integer id, never from user text."""
        return self.table(f"nigh_items_{int(collection_id)}")

    @staticmethod
    def index_name(collection_id: int) -> str:
        """The HNSW index of a collection (an index lives in its table's schema)."""
        return f"nigh_items_{int(collection_id)}_hnsw"

    @property
    def vector_type(self) -> sql.Composed:
        return sql.SQL("{}.vector").format(sql.Identifier(self.vector_schema))

    def exact_distance(self, metric: str) -> sql.Identifier:
        """The distance function for an exact scan (``cosine_distance``...)."""
        return sql.Identifier(self.vector_schema, _EXACT[metric])

    def operator(self, metric: str) -> sql.Composed:
        """The distance operator an HNSW index serves, schema-qualified."""
        return sql.SQL("OPERATOR({}.{})").format(
            sql.Identifier(self.vector_schema), sql.SQL(_OPERATOR[metric])
        )

    def opclass(self, metric: str) -> sql.Identifier:
        return sql.Identifier(self.vector_schema, _OPS[metric])

    def postings(self, collection_id: int) -> sql.Identifier:
        """The text postings of a collection, one row per (term, segment) (``textsegments``),
        named from its integer id."""
        return self.table(f"nigh_tpost_{int(collection_id)}")

    def text_reader(self, collection_id: int) -> sql.Identifier:
        """The function reading a collection's postings for a search (``readers``)."""
        return self.table(f"{READER_PREFIXES[0]}{int(collection_id)}")

    def payload_reader(self, collection_id: int) -> sql.Identifier:
        """The function reading the payload of a collection's items by id (``readers``)."""
        return self.table(f"{READER_PREFIXES[1]}{int(collection_id)}")

    def segments(self, collection_id: int) -> sql.Identifier:
        """The registry of a collection's postings segments: id, tier and item count."""
        return self.table(f"nigh_tsegs_{int(collection_id)}")

    def tombstones(self, collection_id: int) -> sql.Identifier:
        """The tombstones of a collection's postings: ``(item, before)``, the postings of
        ``item`` in the segments below ``before`` are dead."""
        return self.table(f"nigh_ttomb_{int(collection_id)}")

    @property
    def array_cat(self) -> sql.Identifier:
        """The aggregate concatenating arrays (a merge of segments, ``textmerges``)."""
        return sql.Identifier(self.schema, "nigh_array_cat")

    def array_cat_ddl(self) -> sql.Composed:
        return sql.SQL(
            "CREATE OR REPLACE AGGREGATE {}(anycompatiblearray) "
            "(SFUNC = array_cat, STYPE = anycompatiblearray)"
        ).format(self.array_cat)

    def text_tables(self, collection_id: int) -> list[sql.Identifier]:
        return [
            self.postings(collection_id),
            self.segments(collection_id),
            self.tombstones(collection_id),
        ]

    def postings_ddl(self, collection_id: int) -> list[sql.Composed]:
        """The statements creating a collection's text tables at ``SCHEMA_VERSION``."""
        # A term (a run of letters) can exceed btree's entry size, and so can an id (4 KiB):
        # both are keyed by hashes. A query term's rows are one range of the primary key.
        return [
            sql.SQL(
                "CREATE TABLE {} (term_hash bytea NOT NULL, seg bigint NOT NULL, "
                "items text[] NOT NULL, tfs integer[] NOT NULL, lengths integer[] NOT NULL, "
                "terms bytea, PRIMARY KEY (term_hash, seg))"
            ).format(self.postings(collection_id)),
            # A merge reads and deletes its segments' rows: without this, a scan of them all.
            sql.SQL("CREATE INDEX {} ON {} (seg)").format(
                sql.Identifier(f"nigh_tpost_{int(collection_id)}_seg"),
                self.postings(collection_id),
            ),
            # Stored out of line uncompressed: pglz took most of a merge's writes (measured).
            *(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET STORAGE EXTERNAL").format(
                    self.postings(collection_id), sql.Identifier(column)
                )
                for column in ("items", "tfs", "lengths", "terms")
            ),
            sql.SQL(
                "CREATE TABLE {} (seg bigint PRIMARY KEY, tier integer NOT NULL, "
                "docs bigint NOT NULL)"
            ).format(self.segments(collection_id)),
            sql.SQL(
                "CREATE TABLE {} (item_hash bytea PRIMARY KEY, item text NOT NULL, "
                "before bigint NOT NULL)"
            ).format(self.tombstones(collection_id)),
        ]

    @staticmethod
    def order_index_name(collection_id: int) -> str:
        """The btree serving id order (paging, scrolling)."""
        return f"nigh_items_{int(collection_id)}_order"

    @staticmethod
    def metadata_index_name(collection_id: int) -> str:
        """The GIN index serving equality filters."""
        return f"nigh_items_{int(collection_id)}_meta"

    def items_ddl(self, collection_id: int, dimensions: int) -> list[sql.Composed]:
        """The statements creating a collection's items table at ``SCHEMA_VERSION``."""
        create = sql.SQL(
            """CREATE TABLE {table} (
                id_hash       bytea PRIMARY KEY,
                id            text COLLATE "C" NOT NULL,
                embedding     {vector}({dims}) NOT NULL,
                metadata      jsonb NOT NULL,
                metadata_json text NOT NULL,
                text          text NOT NULL
            )"""
        ).format(
            table=self.items(collection_id),
            vector=self.vector_type,
            dims=sql.Literal(int(dimensions)),
        )
        return [create, *self.items_indexes_ddl(collection_id)]

    def items_indexes_ddl(self, collection_id: int) -> list[sql.Composed]:
        """The id-order and metadata indexes of an items table (schema version 2)."""
        table = self.items(collection_id)
        return [
            sql.SQL("CREATE INDEX {name} ON {table} (left(id, {n}))").format(
                name=sql.Identifier(self.order_index_name(collection_id)),
                table=table,
                n=sql.Literal(ID_PREFIX),
            ),
            sql.SQL("CREATE INDEX {name} ON {table} USING gin (metadata jsonb_path_ops)").format(
                name=sql.Identifier(self.metadata_index_name(collection_id)), table=table
            ),
        ]


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key for ``parts`` (length-prefixed, so unambiguous)."""
    h = hashlib.blake2b(digest_size=8, person=b"nighdb-lock")
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "big") + data)
    return int.from_bytes(h.digest(), "big", signed=True)
