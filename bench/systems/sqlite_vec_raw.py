"""Raw sqlite-vec through apsw, the baselines of the embedded backend.

* ``plain``: an ordinary table (rowid, float32 blob, typed metadata columns) scanned with
  ``ORDER BY vec_distance_cosine(embedding, ?) LIMIT k``; a filter is a plain ``WHERE``.
* ``vec0``: sqlite-vec's virtual table with the metadata as vec0 metadata columns, searched
  with ``embedding MATCH ? AND k = ?`` (its brute-force KNN) and the filter in the same
  ``WHERE``.

Both files use the settings of nighdb's SQLite backend (WAL, ``synchronous=FULL``) and
are written in transactions of ``ctx.batch`` rows with ``executemany``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import apsw
import numpy.typing as npt
import sqlite_vec

from ..datasets import FilterSpec
from ..measure import peak_rss_mb, run_searches
from .base import Context, batches, file_bytes

_TYPES = {"int": "INTEGER", "text": "TEXT"}


def connect(path: str) -> apsw.Connection:
    conn = apsw.Connection(path)
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    conn.enable_load_extension(False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class _Base:
    key = ""
    label = ""
    needs_postgres = False
    filename = ""

    def phases(self, ctx: Context) -> list[str]:
        return ["ingest", "search"]

    def ddl(self, ctx: Context) -> str:
        raise NotImplementedError

    def run(self, phase: str, ctx: Context) -> dict[str, Any]:
        path = ctx.workdir / self.filename
        if phase == "ingest":
            return self._ingest(ctx, str(path))
        conn = connect(str(path))
        try:
            result = run_searches(
                _Searcher(conn, self.sql),
                ctx.ds,
                ctx.budget,
                filters=not ctx.latency_only,
                many=False,
                log=ctx.log,
            )
        finally:
            conn.close()
        return {"variants": {"exact": result}}

    def sql(self, flt: FilterSpec | None) -> str:
        raise NotImplementedError

    def _ingest(self, ctx: Context, path: str) -> dict[str, Any]:
        fields = list(ctx.ds.fields)
        conn = connect(path)
        conn.execute(self.ddl(ctx))
        columns = ", ".join(["rowid", "embedding", *fields])
        marks = ", ".join("?" * (2 + len(fields)))
        sql = f"INSERT INTO items ({columns}) VALUES ({marks})"  # noqa: S608 (fixed names)
        t = time.perf_counter()
        for start, vectors, meta in batches(ctx.ds, ctx.batch):
            conn.execute("BEGIN")
            conn.executemany(
                sql,
                (
                    (start + i, vectors[i].tobytes(), *(meta[f][i] for f in fields))
                    for i in range(vectors.shape[0])
                ),
            )
            conn.execute("COMMIT")
        seconds = time.perf_counter() - t
        conn.close()
        return {
            "ingest_s": seconds,
            "ingest_vps": ctx.ds.count / seconds,
            "disk_bytes": file_bytes(
                ctx.workdir / self.filename, ctx.workdir / f"{self.filename}-wal"
            ),
            "ingest_rss_mb": peak_rss_mb(),
        }


class _Searcher:
    def __init__(self, conn: apsw.Connection, sql: Any) -> None:
        self.conn = conn
        self.sql = sql

    def search(self, query: npt.NDArray[Any], k: int, flt: FilterSpec | None) -> Sequence[int]:
        params: tuple[Any, ...] = (
            (query.tobytes(), k) if flt is None else (query.tobytes(), k, flt.value)
        )
        return [int(r[0]) for r in self.conn.execute(self.sql(flt), params)]

    def search_many(self, queries: npt.NDArray[Any], k: int) -> list[Sequence[int]] | None:
        return None


class SqliteVecPlain(_Base):
    key = "sqlite-vec"
    label = "sqlite-vec plain table (vec_distance_cosine scan)"
    filename = "plain.db"

    def ddl(self, ctx: Context) -> str:
        cols = "".join(f", {f} {_TYPES[t]}" for f, t in ctx.ds.fields.items())
        return f"CREATE TABLE items (rowid INTEGER PRIMARY KEY, embedding BLOB NOT NULL{cols})"

    def sql(self, flt: FilterSpec | None) -> str:
        # Fixed names only: the field is a column name defined by the data set.
        where = "" if flt is None else f"WHERE {flt.sql('?3')} "
        return (
            f"SELECT rowid FROM items {where}ORDER BY vec_distance_cosine(embedding, ?1) LIMIT ?2"  # noqa: S608
        )


class SqliteVecVec0(_Base):
    key = "vec0"
    label = "sqlite-vec vec0 virtual table"
    filename = "vec0.db"

    def ddl(self, ctx: Context) -> str:
        cols = "".join(f", {f} {_TYPES[t].lower()}" for f, t in ctx.ds.fields.items())
        return (
            f"CREATE VIRTUAL TABLE items USING vec0(embedding float[{ctx.ds.dims}] "
            f"distance_metric=cosine{cols})"
        )

    def sql(self, flt: FilterSpec | None) -> str:
        where = "" if flt is None else f" AND {flt.sql('?3')}"
        return (
            f"SELECT rowid FROM items WHERE embedding MATCH ?1 AND k = ?2{where} ORDER BY distance"  # noqa: S608
        )
