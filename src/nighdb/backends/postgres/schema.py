"""PostgreSQL layout, bootstrap and driver-error translation for the pgvector backend.

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
  collection's items as segments, one row per (term, segment), their registry and their
  tombstones (``textsegments``), with ``nigh_collections.text_items``/``text_length`` for
  BM25 (contract §14) and ``text_segment``, the last segment id handed out.

  Its primary key is ``id_hash``, the SHA-256 of the id's UTF-8 bytes, not the id itself:
  a btree entry may not exceed about 2,700 bytes, and an id the contract allows (1,024
  characters of four bytes) is 4,096. Id order (paging, scrolling) is served by a btree
  on the id's first 512 characters (at most 2,048 bytes), the full id breaking ties:
  comparing the prefixes first, then the ids, is the ids' own byte order. A GIN index
  (``jsonb_path_ops``) on ``metadata`` serves the equality filters (``filter``).

Text columns that are sorted or paged (``id``, ``tenant``, ``name``) use ``COLLATE "C"``: byte
order, the same on every server whatever its locale, and the same as SQLite's.

No user-supplied text ever reaches SQL: table names come from the integer id and are quoted
with ``psycopg.sql.Identifier``; every value is a bound parameter.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg.types import TypeInfo
from psycopg_pool import PoolTimeout

from ...errors import InvalidArgumentError, NighError, StoreUnavailableError

__all__ = [
    "Conn",
    "SCHEMA_VERSION",
    "Layout",
    "bootstrap",
    "connect_options",
    "after_id",
    "ended_on_error",
    "hashed_ids",
    "id_hash",
    "ID_HASH",
    "ID_ORDER",
    "ID_PREFIX",
    "lock_key",
    "translate_errors",
]

Conn = psycopg.Connection[TupleRow]
"""A connection of the pool (rows as tuples)."""

SCHEMA_VERSION = 4
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
                "PRIMARY KEY (term_hash, seg))"
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
                for column in ("items", "tfs", "lengths")
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


def connect_options(
    url: str, *, connect_timeout: int, timeout: float, prepare: bool = False
) -> dict[str, Any]:
    """Connection options the URL does not set itself; rejects a malformed URL early.

    Without ``prepare``, psycopg never prepares statements on the server: a transaction-mode
    pooler (PgBouncer before 1.21) hands each transaction to any server connection, where a
    statement prepared on another one does not exist (contract §17)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise InvalidArgumentError(f"invalid PostgreSQL URL: {exc}") from exc
    if isinstance(connect_timeout, bool) or not isinstance(connect_timeout, int):
        raise InvalidArgumentError("connect_timeout must be an integer number of seconds")
    defaults: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        # A server that vanished without closing the socket (a dead host, a partition) would
        # otherwise hold a call for the kernel's retransmission timeout, many minutes.
        "tcp_user_timeout": int(timeout * 1000),
        "application_name": "nighdb",
    }
    options = {k: v for k, v in defaults.items() if k not in params}
    options["autocommit"] = True
    if not prepare:
        options["prepare_threshold"] = None
    return options


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key for ``parts`` (length-prefixed, so unambiguous)."""
    h = hashlib.blake2b(digest_size=8, person=b"nighdb-lock")
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "big") + data)
    return int.from_bytes(h.digest(), "big", signed=True)


_REGISTRY_DDL = [
    """CREATE TABLE IF NOT EXISTS {meta} (
        key   text PRIMARY KEY,
        value text NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS {collections} (
        id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant               text COLLATE "C" NOT NULL,
        name                 text COLLATE "C" NOT NULL,
        dimensions           integer NOT NULL,
        embedding_model      text NOT NULL,
        metric               text NOT NULL,
        hnsw_m               integer,
        hnsw_ef_construction integer,
        created_at           timestamptz NOT NULL DEFAULT now(),
        text_analyzer        text NOT NULL DEFAULT 'plain',
        text_items           bigint NOT NULL DEFAULT 0,
        text_length          bigint NOT NULL DEFAULT 0,
        text_segment         bigint NOT NULL DEFAULT 0,
        UNIQUE (tenant, name)
    )""",
    """CREATE TABLE IF NOT EXISTS {api_keys} (
        id         text PRIMARY KEY,
        key_hash   text NOT NULL,
        tenant     text,
        admin      boolean NOT NULL,
        created_at double precision NOT NULL,
        revoked    boolean NOT NULL DEFAULT false
    )""",
]


@dataclass(frozen=True)
class Bootstrap:
    """What ``bootstrap`` learnt: the layout, the vector type, and pgvector's version."""

    layout: Layout
    vector_info: TypeInfo
    pgvector_version: tuple[int, ...]


def bootstrap(conn: Conn, *, create: bool = True) -> Bootstrap:
    """Make sure pgvector and the registry tables exist; return where they live.

    Runs on every open but writes only the first time. Creation is serialised by an advisory
    lock, since concurrent ``CREATE ... IF NOT EXISTS`` can still collide in the catalogs.
    Without ``create`` nothing is created: a schema without them is ``InvalidArgumentError``.
    """
    row = conn.execute("SELECT current_schema(), current_setting('server_encoding')").fetchone()
    assert row is not None
    schema, encoding = row
    if schema is None:
        raise StoreUnavailableError(
            "no schema on the connection's search_path exists; create it, or set search_path "
            "(e.g. ?options=-csearch_path%3Dmyschema in the URL)"
        )
    if str(encoding).upper() not in ("UTF8", "UTF-8"):
        raise StoreUnavailableError(
            f"nighdb needs a UTF8 database, this one is {encoding}; create the database "
            "with ENCODING 'UTF8'"
        )
    layout = Layout(str(schema), "")
    if not _ready(conn, layout):
        if not create:
            raise InvalidArgumentError(
                f"no store exists in schema {layout.schema!r} of this PostgreSQL database (no "
                "nighdb tables, or no pgvector); check the URL and its search_path. Nothing "
                "was created: reading never creates a store, writing (e.g. an import) does"
            )
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s)", (lock_key("bootstrap", layout.schema),)
            )
            _create_extension(conn)
            for ddl in _REGISTRY_DDL:
                conn.execute(
                    sql.SQL(ddl).format(
                        meta=layout.meta, collections=layout.collections, api_keys=layout.api_keys
                    )
                )
            conn.execute(layout.array_cat_ddl())
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO NOTHING"
                ).format(layout.meta),
                (str(SCHEMA_VERSION),),
            )
    _check_version(conn, layout)
    ext = conn.execute(
        "SELECT n.nspname, e.extversion FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"
    ).fetchone()
    if ext is None:
        raise StoreUnavailableError("the pgvector extension disappeared during start-up; retry")
    vector_schema, version = str(ext[0]), str(ext[1])
    info = TypeInfo.fetch(conn, sql.Identifier(vector_schema, "vector").as_string(conn))
    if info is None:
        raise StoreUnavailableError("the pgvector 'vector' type is missing; reinstall pgvector")
    return Bootstrap(Layout(layout.schema, vector_schema), info, _version_tuple(version))


def _ready(conn: Conn, layout: Layout) -> bool:
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL "
        "AND to_regclass(%s) IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')",
        (
            layout.meta.as_string(conn),
            layout.collections.as_string(conn),
            layout.api_keys.as_string(conn),
        ),
    ).fetchone()
    return bool(row and row[0])


def _create_extension(conn: Conn) -> None:
    exists = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
    if exists:
        return  # installed already: no privilege needed
    try:
        with conn.transaction():  # a savepoint, so the error message below is ours
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreUnavailableError(
            "the pgvector extension is not installed in this database and this role may not "
            "install it; ask a superuser to run CREATE EXTENSION vector in this database"
        ) from exc
    except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported) as exc:
        raise StoreUnavailableError(
            "this PostgreSQL server does not have pgvector; install it on the server "
            "(https://github.com/pgvector/pgvector) and retry"
        ) from exc


def _check_version(conn: Conn, layout: Layout) -> None:
    row = conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = 'schema_version'").format(layout.meta)
    ).fetchone()
    if row is not None and int(str(row[0])) > SCHEMA_VERSION:
        raise InvalidArgumentError(
            f"this database uses nighdb schema {row[0]}, newer than this version understands "
            f"({SCHEMA_VERSION}); upgrade nighdb"
        )


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


# SQLSTATE classes that mean "the server cannot serve us right now": connection exceptions
# (08), insufficient resources (53), operator intervention (57: shutdown, cancel), system
# errors (58), and transaction rollbacks (40) that outlived our retries.
_UNAVAILABLE_CLASSES = ("08", "40", "53", "57", "58")


@contextlib.contextmanager
def ended_on_error(conn: Conn) -> Iterator[None]:
    """Roll back the transaction a failed statement left open, for a transaction begun and
    committed by statements in a pipeline (the happy path commits). Not while a statement is
    still running (an interrupt): the pool ends that connection."""
    try:
        yield
    except BaseException:
        if not conn.broken and conn.info.transaction_status in _OPEN:
            conn.execute("ROLLBACK")
        raise


_OPEN = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


@contextlib.contextmanager
def translate_errors(timeout: float) -> Iterator[None]:
    """Turn driver exceptions into coded ``NighError``s at the backend boundary."""
    try:
        yield
    except NighError:
        raise
    except PoolTimeout as exc:
        raise StoreUnavailableError(
            f"no PostgreSQL connection became available within {timeout:g}s: the server is "
            "unreachable or every pooled connection is busy; retry later (a store opened with a "
            "longer timeout or a larger pool waits longer)"
        ) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreUnavailableError(
            f"the database role lacks a privilege nighdb needs: {_first_line(exc)}; see "
            "docs/postgres.md for the privileges a store needs"
        ) from exc
    except psycopg.errors.ProgramLimitExceeded as exc:
        raise InvalidArgumentError(
            f"PostgreSQL refused a value as too large: {_first_line(exc)}"
        ) from exc
    except UnicodeEncodeError as exc:  # the driver cannot send it (a lone surrogate)
        raise InvalidArgumentError(f"a string is not valid Unicode text ({exc.reason})") from exc
    except psycopg.Error as exc:
        state = exc.sqlstate or ""
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or (
            state[:2] in _UNAVAILABLE_CLASSES
        ):
            raise StoreUnavailableError(
                f"PostgreSQL is unavailable: {_first_line(exc)}; retry later"
            ) from exc
        raise NighError(f"unexpected PostgreSQL error {state}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
