"""Which collections have an HNSW index, and keeping each graph in step with the database.

The database is the source of truth (contract §15). A ``nigh_indexes`` row records an
index's options and the collection version its file reflects; its id is the build's
*generation*, so a process notices when another one rebuilt or dropped the index. Before a
search uses a graph, ``current_graph`` brings it to the search's snapshot:

* no graph in this process, or another generation: load the file, or rebuild from the items
  table when the file is missing or unreadable;
* rows written since the graph's version (``seq`` > version: upserts, updates, by any
  process) are re-added; rows deleted since (the graph then holds more keys than the table
  has rows) are found by comparing rowids and removed.

The file is rewritten (atomically, under SQLite's write lock so that the file and the row
always agree) when a graph was rebuilt or has caught up on many rows since it was saved, so
a restart does not replay a long history. A crash between the rename and the commit leaves a
file newer than its row: catching up re-applies rows idempotently.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import apsw
import numpy as np

from ...indexes import IndexOptions
from ...models import F32
from .ann import I64, HnswGraph, index_path
from .schema import Pin, count_rows, items_table

__all__ = ["AnnIndexes", "IndexRecord", "read_record"]

# Rows read per chunk while building a graph from the items table.
_BUILD_CHUNK = 20_000
# A graph is saved again once it caught up on this many rows (or a tenth of its size).
_SAVE_AFTER_ROWS = 1_000


@dataclass(frozen=True)
class IndexRecord:
    generation: int
    options: IndexOptions
    version: int  # the collection version the file reflects


def read_record(conn: apsw.Connection, collection_id: int) -> IndexRecord | None:
    row = conn.execute(
        "SELECT id, m, ef_construction, version FROM nigh_indexes WHERE collection_id = ?",
        (collection_id,),
    ).fetchone()
    if row is None:
        return None
    return IndexRecord(int(row[0]), IndexOptions(int(row[1]), int(row[2])), int(row[3]))


class AnnIndexes:
    """The graphs this store has loaded, by collection id, and their files beside ``db_path``."""

    def __init__(self, db_path: str) -> None:
        self._db_path = db_path
        self._graphs: dict[int, HnswGraph] = {}
        self._unsaved: dict[int, int] = {}
        self._lock = threading.Lock()

    # -- building and recording (the store holds the transactions) ----------------------

    def build(self, conn: apsw.Connection, pin: Pin, options: IndexOptions) -> HnswGraph:
        """A graph of every row of ``conn``'s snapshot (generation 0 until recorded)."""
        c = pin.collection
        graph = HnswGraph.empty(c.dimensions, c.metric, options, 0)
        last = 0
        table = items_table(pin.id)
        sql = f"SELECT rowid, vector FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        while True:
            rowids, vectors = _rows(
                conn.execute(sql, (last, _BUILD_CHUNK)).fetchall(), c.dimensions
            )
            if not len(rowids):
                break
            graph.add(rowids, vectors)
            last = int(rowids[-1])
        graph.version = pin.version
        return graph

    def record(
        self, conn: apsw.Connection, pin: Pin, options: IndexOptions, graph: HnswGraph
    ) -> None:
        """Inside a write transaction: replace the collection's row and write its file."""
        conn.execute("DELETE FROM nigh_indexes WHERE collection_id = ?", (pin.id,))
        conn.execute(
            "INSERT INTO nigh_indexes (collection_id, m, ef_construction, version) "
            "VALUES (?, ?, ?, ?)",
            (pin.id, options.m, options.ef_construction, graph.version),
        )
        graph.generation = int(conn.last_insert_rowid())
        graph.save(index_path(self._db_path, pin.id))
        with self._lock:
            self._graphs[pin.id] = graph
            self._unsaved[pin.id] = 0

    def remove(self, conn: apsw.Connection | None, collection_id: int) -> bool:
        """Forget the index (its row, when ``conn`` is a write transaction, and its file)."""
        removed = False
        if conn is not None:
            conn.execute("DELETE FROM nigh_indexes WHERE collection_id = ?", (collection_id,))
            removed = conn.changes() > 0
        with contextlib.suppress(FileNotFoundError):
            index_path(self._db_path, collection_id).unlink()
        with self._lock:
            self._graphs.pop(collection_id, None)
            self._unsaved.pop(collection_id, None)
        return removed

    # -- using a graph ------------------------------------------------------------------

    def current_graph(self, conn: apsw.Connection, pin: Pin, record: IndexRecord) -> HnswGraph:
        """The collection's graph, caught up to at least ``conn``'s snapshot (``pin.version``).

        Callers search it under ``graph.lock``. Another thread may have moved the graph past
        this snapshot: its candidates are then rescored from this snapshot's rows, and a
        query left short of ``min(limit, matches)`` is answered exactly (``ann_search``)."""
        with self._lock:
            graph = self._graphs.get(pin.id)
        if graph is None or graph.generation != record.generation:
            graph = self._load_or_build(conn, pin, record)
        with graph.lock:
            if graph.version < pin.version:
                caught_up = self._catch_up(conn, pin, graph)
                with self._lock:
                    self._unsaved[pin.id] = self._unsaved.get(pin.id, 0) + caught_up
        return graph

    def wants_saving(self, collection_id: int) -> HnswGraph | None:
        """A graph that caught up on enough rows since its file was written, if any."""
        with self._lock:
            graph = self._graphs.get(collection_id)
            unsaved = self._unsaved.get(collection_id, 0)
        if graph is None or unsaved < max(_SAVE_AFTER_ROWS, len(graph) // 10):
            return None
        return graph

    def save_if_newer(self, conn: apsw.Connection, collection_id: int, graph: HnswGraph) -> None:
        """Inside a write transaction: write the file when it would be newer than recorded."""
        record = read_record(conn, collection_id)
        if record is None or record.generation != graph.generation:
            return
        with graph.lock:
            if graph.version <= record.version:
                return
            graph.save(index_path(self._db_path, collection_id))
            conn.execute(
                "UPDATE nigh_indexes SET version = ? WHERE id = ?",
                (graph.version, graph.generation),
            )
        with self._lock:
            self._unsaved[collection_id] = 0

    def memory_bytes(self, collection_id: int) -> int:
        with self._lock:
            graph = self._graphs.get(collection_id)
        return 0 if graph is None else graph.memory_bytes()

    def clear(self) -> None:
        with self._lock:
            self._graphs.clear()
            self._unsaved.clear()

    # -- internals ----------------------------------------------------------------------

    def _load_or_build(self, conn: apsw.Connection, pin: Pin, record: IndexRecord) -> HnswGraph:
        path = index_path(self._db_path, pin.id)
        graph = HnswGraph.load(path, record.generation, record.version, pin.collection.metric)
        unsaved = 0
        if graph is None or graph.index.ndim != pin.collection.dimensions:
            graph = self.build(conn, pin, record.options)
            graph.generation = record.generation
            unsaved = max(len(graph), _SAVE_AFTER_ROWS)  # save the rebuilt file soon
        with self._lock:
            self._graphs[pin.id] = graph
            self._unsaved[pin.id] = unsaved
        return graph

    def _catch_up(self, conn: apsw.Connection, pin: Pin, graph: HnswGraph) -> int:
        """Apply the rows written since ``graph.version``; remove deleted rows. Rows caught up."""
        dims = pin.collection.dimensions
        table = items_table(pin.id)
        rowids, vectors = _rows(
            conn.execute(
                f"SELECT rowid, vector FROM {table} WHERE seq > ? ORDER BY rowid", (graph.version,)
            ).fetchall(),
            dims,
        )
        graph.put(rowids, vectors)
        changed = len(rowids)
        count = count_rows(conn, table)
        if len(graph) != count:
            # Deletes leave no trace in the table: the graph's keys that no row has any more.
            stored = np.fromiter(
                (r[0] for r in conn.execute(f"SELECT rowid FROM {table}")), dtype=np.int64
            )
            gone = np.setdiff1d(graph.keys(), stored, assume_unique=True)
            graph.remove(gone)
            changed += len(gone)
            missing = np.setdiff1d(stored, graph.keys(), assume_unique=True)
            if len(missing):  # a file older than its row claimed: add what it lacks
                ids_json = "[" + ",".join(str(int(r)) for r in missing) + "]"
                extra, extra_vectors = _rows(
                    conn.execute(
                        f"SELECT rowid, vector FROM {table} WHERE rowid IN "
                        "(SELECT value FROM json_each(?)) ORDER BY rowid",
                        (ids_json,),
                    ).fetchall(),
                    dims,
                )
                graph.put(extra, extra_vectors)
                changed += len(extra)
        graph.version = pin.version
        return changed


def _rows(rows: Sequence[tuple[object, ...]], dims: int) -> tuple[I64, F32]:
    rowids = np.fromiter((cast(int, r[0]) for r in rows), dtype=np.int64, count=len(rows))
    if not rows:
        return rowids, np.empty((0, dims), dtype=np.float32)
    blob = b"".join(cast(bytes, r[1]) for r in rows)
    return rowids, np.frombuffer(blob, dtype="<f4").reshape(-1, dims).astype(np.float32)
