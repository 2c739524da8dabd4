"""The first statements of every open: pgvector and the registry tables found or created.

``bootstrap`` checks the connection's schema and encoding, creates the extension and the
registry tables (``nigh_meta``, ``nigh_collections``, ``nigh_api_keys``) under an advisory lock
the first time, refuses a layout newer than this code, and learns where pgvector lives and
its version. The layout itself is described in ``schema``; older layouts are brought up to
date by ``upgrade``.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.types import TypeInfo

from ...errors import InvalidArgumentError, StoreUnavailableError
from .schema import SCHEMA_VERSION, Conn, Layout, lock_key

__all__ = ["Bootstrap", "bootstrap"]


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
