"""SQLite file layout, connection set-up and driver-error translation for the embedded backend.

``Pin`` is a collection's row of the registry table, which every method reads first.

Layout (one file, WAL):

* ``nigh_meta(key, value)``: the schema version;
* ``nigh_collections``: one row per (tenant, name) pin, with an integer ``id`` that names
  the collection's items table and a ``version`` that every write transaction bumps (the
  in-process caches compare it); AUTOINCREMENT, so a dropped collection's id, and so its
  table name, is never reused;
* ``nigh_versions`` (schema 7): a random token for each of a collection's last versions,
  which tells a version from the same number reached again after a backup was restored
  (``quantized_file``);
* ``nigh_api_keys``: the service's API keys, hashed (``nighdb.keys``);
* ``nigh_indexes`` (schema 3): one row per collection with an approximate index, its
  options and the collection version its file ``<db>-nighidx/<collection id>.usearch``
  reflects; the row's id is the build's generation (``ann_state``);
* ``nigh_items_<id>``: one row per item; ``vector`` is little-endian float32 (numpy reads
  it without a copy); ``metadata`` is SQLite's binary JSON (JSONB: filters read it about
  twice as fast as JSON text, and it keeps numbers exactly as written); ``seq`` is the
  collection version that last wrote the row;
* ``nigh_textseg_<id>``, ``nigh_textpost_<id>``, ``nigh_textdead_<id>`` (schema 4; schema 5
  dropped the dictionary's table, ``nigh_textterm_<id>``; schema 6 stores new segments'
  postings in fewer bytes, ``textsegments``): the text postings of the
  collection's items as immutable segments with their dictionaries, their postings in
  chunks and the tombstones of removed items, and ``nigh_collections.text_length`` their
  total length (``textindex``, contract §14).

Upgrades: a database keeps its schema version in ``nigh_meta``; opening an older one runs
the steps of ``UPGRADES`` above its version, in order, in one transaction (a new file runs
them all: each step checks what already exists).

No user-supplied text ever reaches SQL: table names come from the integer id.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import apsw

from ...errors import InvalidArgumentError, NighError, StoreUnavailableError
from ...models import Collection

__all__ = [
    "PIN_COLUMNS",
    "SCHEMA_VERSION",
    "UPGRADES",
    "Pin",
    "connect",
    "count_rows",
    "items_table",
    "parse_sqlite_url",
    "chunks_table",
    "segments_table",
    "text_ddl",
    "text_tables",
    "tombstones_table",
    "require_store",
    "translate_errors",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nigh_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nigh_collections (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant          TEXT NOT NULL,
    name            TEXT NOT NULL,
    dimensions      INTEGER NOT NULL,
    embedding_model TEXT NOT NULL,
    metric          TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL DEFAULT (unixepoch('subsec')),
    text_analyzer   TEXT NOT NULL DEFAULT 'plain',
    text_length     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant, name)
);
CREATE TABLE IF NOT EXISTS nigh_api_keys (
    id         TEXT PRIMARY KEY,
    key_hash   TEXT NOT NULL,
    tenant     TEXT,
    admin      INTEGER NOT NULL,
    created_at REAL NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
"""

_INDEXES = """
CREATE TABLE IF NOT EXISTS nigh_indexes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id   INTEGER NOT NULL UNIQUE
                    REFERENCES nigh_collections (id) ON DELETE CASCADE,
    m               INTEGER NOT NULL,
    ef_construction INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    created_at      REAL NOT NULL DEFAULT (unixepoch('subsec'))
);
"""


def _add_indexes_table(conn: apsw.Connection) -> None:
    conn.execute(_INDEXES)


def _add_text_columns(conn: apsw.Connection) -> None:
    """Version 2 (text search, contract §14): the analyzer pin and the total text length.
    The postings themselves are version 4's (they were rows per (term, item) until then)."""
    columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(nigh_collections)")}
    if "text_analyzer" not in columns:
        conn.execute(
            "ALTER TABLE nigh_collections ADD COLUMN text_analyzer TEXT NOT NULL DEFAULT 'plain'"
        )
    if "text_length" not in columns:
        conn.execute(
            "ALTER TABLE nigh_collections ADD COLUMN text_length INTEGER NOT NULL DEFAULT 0"
        )


def _add_text_segments(conn: apsw.Connection) -> None:
    """Version 4: every collection's postings rebuilt as segments from its stored texts (the
    same analyzer gives the same postings), the version-2 postings table dropped."""
    from .textindex import add_postings  # the step needs the analyzer; textindex needs us

    collections = conn.execute("SELECT id, text_analyzer FROM nigh_collections").fetchall()
    for raw_id, analyzer in collections:
        cid = int(cast(int, raw_id))
        conn.execute(f"DROP TABLE IF EXISTS nigh_postings_{cid}")
        for table in text_tables(cid):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for ddl in text_ddl(cid):
            conn.execute(ddl)
        conn.execute("UPDATE nigh_collections SET text_length = 0 WHERE id = ?", (cid,))
        last = 0
        while True:  # a page of items at a time, each page a segment
            rows = conn.execute(
                f"SELECT rowid, text FROM {items_table(cid)} WHERE rowid > ? "
                "ORDER BY rowid LIMIT 10000",
                (last,),
            ).fetchall()
            if not rows:
                break
            last = int(cast(int, rows[-1][0]))
            add_postings(conn, cid, str(analyzer), ((int(cast(int, r)), str(t)) for r, t in rows))


def _dictionaries_in_segments(conn: apsw.Connection) -> None:
    """Version 5: a segment's dictionary is read from its own ``terms`` blob (cached by
    readers under the segment's id and ``salt``), so the table of one row per (term,
    segment) that version 4 kept goes, and every segment gets its salt."""
    for (raw_id,) in conn.execute("SELECT id FROM nigh_collections").fetchall():
        cid = int(cast(int, raw_id))
        conn.execute(f"DROP TABLE IF EXISTS nigh_textterm_{cid}")
        table = segments_table(cid)
        columns = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
        if "salt" not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN salt INTEGER NOT NULL DEFAULT 0")
            conn.execute(f"UPDATE {table} SET salt = random() & 0x7fffffffffffffff")


def _narrow_postings(conn: apsw.Connection) -> None:
    """Version 6: new segments store their postings in format 2, a few bytes each
    (``textsegments``). Format 1 segments are read as they are, so nothing is rewritten:
    the version only keeps an older nighdb, which cannot read format 2, from the file."""


def _add_version_tokens(conn: apsw.Connection) -> None:
    """Version 7: a random token for each recent version of a collection
    (``nigh_versions``), so that a copy derived at some version (``quantized_file``) can
    tell that version from the same number reached again after a backup was restored."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS nigh_versions ("
        "collection_id INTEGER NOT NULL REFERENCES nigh_collections (id) ON DELETE CASCADE, "
        "version INTEGER NOT NULL, token INTEGER NOT NULL, "
        "PRIMARY KEY (collection_id, version)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT OR IGNORE INTO nigh_versions (collection_id, version, token) "
        "SELECT id, version, random() FROM nigh_collections"
    )


UPGRADES: tuple[tuple[int, Callable[[apsw.Connection], None]], ...] = (
    (2, _add_text_columns),
    (3, _add_indexes_table),
    (4, _add_text_segments),
    (5, _dictionaries_in_segments),
    (6, _narrow_postings),
    (7, _add_version_tokens),
)
"""Ordered upgrade steps ``(target version, step)``. Each step applies cleanly to a database
at any older version (a step never depends on its predecessors). A fresh database runs
every step and starts at the newest version."""

SCHEMA_VERSION = max(version for version, _ in UPGRADES)


def items_table(collection_id: int) -> str:
    """The items table of a collection: named from our integer id, never from user text."""
    return f"nigh_items_{int(collection_id)}"


def segments_table(collection_id: int) -> str:
    """The text postings segments of a collection (``textindex``), named from its id."""
    return f"nigh_textseg_{int(collection_id)}"


def chunks_table(collection_id: int) -> str:
    """The segments' postings, in page-sized chunks (``textsegments.chunk_key``)."""
    return f"nigh_textpost_{int(collection_id)}"


def tombstones_table(collection_id: int) -> str:
    """Removed items whose postings in older segments are dead."""
    return f"nigh_textdead_{int(collection_id)}"


def text_tables(collection_id: int) -> list[str]:
    return [
        segments_table(collection_id),
        chunks_table(collection_id),
        tombstones_table(collection_id),
    ]


def text_ddl(collection_id: int) -> list[str]:
    # AUTOINCREMENT: a new segment's id is above every id ever handed out, which the
    # tombstones rely on (a merge reuses the highest id of its inputs: ``textmerges``).
    return [
        f"CREATE TABLE {segments_table(collection_id)} ("
        "seg INTEGER PRIMARY KEY AUTOINCREMENT, docs INTEGER NOT NULL, "
        "salt INTEGER NOT NULL, terms BLOB NOT NULL)",
        f"CREATE TABLE {chunks_table(collection_id)} (key INTEGER PRIMARY KEY, data BLOB NOT NULL)",
        f"CREATE TABLE {tombstones_table(collection_id)} ("
        "item INTEGER PRIMARY KEY, before INTEGER NOT NULL)",
    ]


def count_rows(conn: apsw.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return 0 if row is None else int(row[0])


PIN_COLUMNS = "id, name, dimensions, embedding_model, metric, version, text_analyzer"


class Pin:
    """A collection's ``nigh_collections`` row (``PIN_COLUMNS``), read inside the caller's
    transaction."""

    __slots__ = ("collection", "id", "version")

    def __init__(self, row: tuple[Any, ...]) -> None:
        cid, name, dims, model, metric, version, analyzer = row
        self.id = int(cid)
        self.version = int(version)
        self.collection = Collection(str(name), int(dims), str(model), str(metric), str(analyzer))


def items_ddl(collection_id: int) -> list[str]:
    table = items_table(collection_id)
    return [
        f"""CREATE TABLE {table} (
            rowid    INTEGER PRIMARY KEY,
            id       TEXT NOT NULL UNIQUE,
            vector   BLOB NOT NULL,
            metadata BLOB NOT NULL,
            text     TEXT NOT NULL,
            seq      INTEGER NOT NULL
        )""",
        f"CREATE INDEX {table}_seq ON {table} (seq)",
        *text_ddl(collection_id),
    ]


def parse_sqlite_url(url: str) -> str:
    """The file path of ``sqlite:///rel.db``, ``sqlite:////abs.db`` or a bare path."""
    if "://" not in url:
        path = url
    else:
        scheme, _, rest = url.partition("://")
        if scheme.lower() != "sqlite" or not rest.startswith("/"):
            raise InvalidArgumentError(
                f"invalid SQLite URL {url!r}; use sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db"
            )
        path = rest[1:]
        path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        raise InvalidArgumentError(
            "nighdb's SQLite backend needs a file (several connections share it); "
            "use a temporary file instead of :memory:"
        )
    return path


def connect(
    path: str, *, busy_timeout_ms: int, synchronous: str, create: bool = True
) -> apsw.Connection:
    """Open one connection: WAL, busy timeout, durability level.

    With ``create`` a missing file (and its folders) is created; without, it never is.
    """
    flags = apsw.SQLITE_OPEN_READWRITE
    if create:
        flags |= apsw.SQLITE_OPEN_CREATE
        parent = Path(path).parent
        if not parent.exists():
            parent.mkdir(parents=True, exist_ok=True)
    conn = apsw.Connection(os.fspath(path), flags=flags)
    conn.set_busy_timeout(busy_timeout_ms)
    _use_wal(conn, busy_timeout_ms)
    conn.execute(f"PRAGMA synchronous={synchronous}")  # a fixed keyword, checked by the caller
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _use_wal(conn: apsw.Connection, busy_timeout_ms: int) -> None:
    """Switch a new file to WAL, waiting out other processes that open it at the same moment.

    While the file is still in rollback mode, a connection that must wait for another's
    lock to change the journal mode can get SQLITE_BUSY at once: SQLite skips the busy
    handler where waiting could deadlock. Several processes creating one store together then
    failed on open (seen once in the concurrent-ensure test); this retries for as long as
    the busy timeout allows.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.001
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except apsw.BusyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def require_store(path: str) -> None:
    """For ``create=False``: ``path`` must already be a nighdb database. Creates nothing (the
    check reads through a read-only connection, before any connection that could write)."""
    if not Path(path).is_file():
        raise InvalidArgumentError(
            f"no store exists at {path!r} (no such SQLite file); check the path. Nothing was "
            "created: reading never creates a store, writing (e.g. an import) does"
        )
    conn = apsw.Connection(os.fspath(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'nigh_meta'"
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        raise InvalidArgumentError(
            f"{path!r} is not a nighdb store (the SQLite file has no nighdb tables); check the path"
        )


def create_schema(conn: apsw.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_SCHEMA)
        row = conn.execute("SELECT value FROM nigh_meta WHERE key = 'schema_version'").fetchone()
        found = 0 if row is None else int(row[0])  # 0: a fresh file, every step applies
        if found > SCHEMA_VERSION:
            raise InvalidArgumentError(
                f"this database uses nighdb schema {found}, newer than this version "
                f"understands ({SCHEMA_VERSION}); upgrade nighdb"
            )
        if found < SCHEMA_VERSION:
            for version, step in UPGRADES:
                if version > found:
                    step(conn)
            conn.execute(
                "INSERT INTO nigh_meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def translate_errors(path: str) -> Iterator[None]:
    """Turn driver exceptions into coded ``NighError``s at the backend boundary."""
    try:
        yield
    except NighError:
        raise
    except apsw.BusyError as exc:
        raise StoreUnavailableError(
            f"the SQLite database {path!r} stayed locked longer than the busy timeout; "
            "another process holds a long write transaction. Retry later (a store opened "
            "with a longer busy timeout waits longer)"
        ) from exc
    except apsw.ReadOnlyError as exc:
        raise StoreUnavailableError(
            f"the SQLite database {path!r} is read-only; check file and directory permissions"
        ) from exc
    except apsw.FullError as exc:
        raise StoreUnavailableError(
            f"the disk holding the SQLite database {path!r} is full; free space and retry"
        ) from exc
    except apsw.CantOpenError as exc:
        raise StoreUnavailableError(
            f"cannot open the SQLite database {path!r}; check the path and permissions"
        ) from exc
    except apsw.Error as exc:
        raise StoreUnavailableError(f"SQLite error on {path!r}: {exc}") from exc
    except OSError as exc:
        raise StoreUnavailableError(f"cannot use the SQLite database {path!r}: {exc}") from exc
