"""PostgreSQL + pgvector: raw psycopg SQL (the baseline) and nighdb's postgres backend.

Phases, each in its own child: ``ingest`` (raw: binary ``COPY`` of ``ctx.batch`` rows per
transaction straight into the table; nighdb: ``upsert`` of the same batches), ``search``
(exact scans; the table has no vector index yet), ``index`` (HNSW, m 16, ef_construction
64), ``search-hnsw`` (one configuration per ``ef_search``). After ingest both tables are
``ANALYZE``d, untimed, so the planner knows their size.

Raw SQL is what an application would write by hand: ``ORDER BY embedding <=> %s LIMIT k``
returning the id, the filter on a typed column, vectors in pgvector's binary format, and
``hnsw.iterative_scan = strict_order`` for HNSW (pgvector >= 0.8), pgvector's documented
way to keep a filtered index scan from returning too few rows. (nighdb uses
``relaxed_order`` and explores 10 x ``ef_search`` under a filter: docs/postgres.md.) The
nighdb ``search`` phase also runs nighdb's own exact statement through raw psycopg
(``nighdb SQL via psycopg``), which splits nighdb's overhead into SQL and Python.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy.typing as npt
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

import nighdb

from ..datasets import FilterSpec
from ..measure import peak_rss_mb, run_paired, run_searches
from .base import Context, batches
from .nigh_sqlite import TENANT, NighSearcher, nigh_ingest

_PG_TYPES = {"int": "integer", "text": "text"}


def _connect(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    return conn


def _scalar(conn: psycopg.Connection[Any], query: Any, params: Sequence[Any] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


class _RawSearcher:
    def __init__(self, conn: psycopg.Connection[Any], table: str) -> None:
        self.conn = conn
        self.table = sql.Identifier(table)

    def search(self, query: npt.NDArray[Any], k: int, flt: FilterSpec | None) -> Sequence[int]:
        where = sql.SQL("") if flt is None else sql.SQL("WHERE {} ").format(sql.SQL(flt.sql("%s")))
        stmt = sql.SQL("SELECT id FROM {} {}ORDER BY embedding <=> %s LIMIT %s").format(
            self.table, where
        )
        params = (query, k) if flt is None else (flt.value, query, k)
        return [int(r[0]) for r in self.conn.execute(stmt, params, binary=True)]

    def search_many(self, queries: npt.NDArray[Any], k: int) -> list[Sequence[int]] | None:
        return None


class _NighSqlSearcher:
    """nighdb's exact statement (distance function, id tie-break, limit + margin,
    embedding and payload columns) sent through raw psycopg, unfiltered only."""

    def __init__(self, conn: psycopg.Connection[Any], table: str) -> None:
        self.conn = conn
        self.stmt = sql.SQL(
            "SELECT id, t.embedding, t.metadata_json, t.text FROM (SELECT id FROM {table} AS t "
            "WHERE true ORDER BY cosine_distance(embedding, %b), id LIMIT %s) AS c "
            "JOIN {table} AS t USING (id)"
        ).format(table=sql.Identifier(table))

    def search(self, query: npt.NDArray[Any], k: int, flt: FilterSpec | None) -> Sequence[int]:
        fetch = k + min(max(k, 8), 64)  # nighdb's margin (backends/postgres/search.py, candidates)
        rows = self.conn.execute(self.stmt, (query, fetch), binary=True).fetchall()
        return [int(r[0]) for r in rows[:k]]

    def search_many(self, queries: npt.NDArray[Any], k: int) -> list[Sequence[int]] | None:
        return None


def _raw_table(conn: psycopg.Connection[Any], ctx: Context) -> str | None:
    """The raw baseline's table of this data set, when the pgvector system ran first."""
    table = PgvectorRaw.table(ctx)
    return table if _scalar(conn, "SELECT to_regclass(%s)", (table,)) else None


def _nigh_table(conn: psycopg.Connection[Any], ds_name: str) -> str:
    cid = _scalar(
        conn,
        "SELECT id FROM nigh_collections WHERE tenant = %s AND name = %s",
        (TENANT, ds_name),
    )
    return f"nigh_items_{int(cid)}"


class PgvectorRaw:
    key = "pgvector"
    label = "pgvector raw SQL (psycopg)"
    needs_postgres = True

    def phases(self, ctx: Context) -> list[str]:
        return ["ingest", "search", "index", "search-hnsw"]

    @staticmethod
    def table(ctx: Context) -> str:
        return f"raw_items_{ctx.table_suffix()}"

    def run(self, phase: str, ctx: Context) -> dict[str, Any]:
        table = self.table(ctx)
        with _connect(ctx.postgres()) as conn:
            if phase == "ingest":
                return self._ingest(ctx, conn, table)
            if phase == "index":
                return _build_index(ctx, conn, table, f"{table}_hnsw")
            searcher = _RawSearcher(conn, table)
            if phase == "search":
                result = run_searches(
                    searcher,
                    ctx.ds,
                    ctx.budget,
                    filters=not ctx.latency_only,
                    many=False,
                    log=ctx.log,
                )
                return {"variants": {"exact": result}}
            variants = {}
            conn.execute("SET hnsw.iterative_scan = strict_order")
            for ef in ctx.ef_search:
                ctx.log(f"   ef_search {ef}")
                conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(ef)))
                variants[f"HNSW ef={ef}"] = run_searches(
                    searcher, ctx.ds, ctx.budget, many=False, log=ctx.log
                )
            return {"variants": variants}

    def _ingest(self, ctx: Context, conn: psycopg.Connection[Any], table: str) -> dict[str, Any]:
        fields = list(ctx.ds.fields)
        cols = sql.SQL("").join(
            sql.SQL(", {} {}").format(sql.Identifier(f), sql.SQL(_PG_TYPES[t]))
            for f, t in ctx.ds.fields.items()
        )
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        conn.execute(
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector({}){})").format(
                sql.Identifier(table), sql.Literal(ctx.ds.dims), cols
            )
        )
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, ["id", "embedding", *fields])),
        )
        types = ["int8", "vector", *(_PG_TYPES[ctx.ds.fields[f]] for f in fields)]
        t = time.perf_counter()
        for start, vectors, meta in batches(ctx.ds, ctx.batch):
            with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                copy.set_types(types)
                for i in range(vectors.shape[0]):
                    copy.write_row((start + i, vectors[i], *(meta[f][i] for f in fields)))
        seconds = time.perf_counter() - t
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        return {
            "ingest_s": seconds,
            "ingest_vps": ctx.ds.count / seconds,
            "disk_bytes": int(_scalar(conn, "SELECT pg_total_relation_size(%s)", (table,))),
            "ingest_rss_mb": peak_rss_mb(),
        }


def _build_index(
    ctx: Context, conn: psycopg.Connection[Any], table: str, index: str
) -> dict[str, Any]:
    t = time.perf_counter()
    conn.execute(
        sql.SQL(
            "CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = {}, ef_construction = {})"
        ).format(
            sql.Identifier(index),
            sql.Identifier(table),
            sql.Literal(ctx.hnsw_m),
            sql.Literal(ctx.hnsw_ef_construction),
        )
    )
    seconds = time.perf_counter() - t
    return {
        "index_s": seconds,
        "index_bytes": int(_scalar(conn, "SELECT pg_relation_size(%s)", (index,))),
    }


class NighPostgres:
    key = "nigh-pg"
    label = "nighdb postgres"
    needs_postgres = True

    def phases(self, ctx: Context) -> list[str]:
        return ["ingest", "search", "index", "search-hnsw"]

    def run(self, phase: str, ctx: Context) -> dict[str, Any]:
        url = ctx.postgres()
        name = ctx.ds.name
        with nighdb.open_store(url) as store:
            if phase == "ingest":
                seconds = nigh_ingest(store, ctx)
                with _connect(url) as conn:
                    table = _nigh_table(conn, name)
                    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
                    disk = int(_scalar(conn, "SELECT pg_total_relation_size(%s)", (table,)))
                return {
                    "ingest_s": seconds,
                    "ingest_vps": ctx.ds.count / seconds,
                    "disk_bytes": disk,
                    "ingest_rss_mb": peak_rss_mb(),
                }
            if phase == "index":
                t = time.perf_counter()
                store.create_index(  # type: ignore[attr-defined]
                    TENANT, name, m=ctx.hnsw_m, ef_construction=ctx.hnsw_ef_construction
                )
                seconds = time.perf_counter() - t
                with _connect(url) as conn:
                    index = f"{_nigh_table(conn, name)}_hnsw"
                    size = int(_scalar(conn, "SELECT pg_relation_size(%s)", (index,)))
                return {"index_s": seconds, "index_bytes": size}
            only = ctx.latency_only
            if phase == "search":
                variants = {
                    "exact": run_searches(
                        NighSearcher(store, name),
                        ctx.ds,
                        ctx.budget,
                        filters=not only,
                        many=not only,
                        log=ctx.log,
                    )
                }
                if not only:
                    with _connect(url) as conn:
                        raw = _raw_table(conn, ctx)
                        if raw is not None:
                            ctx.log("   paired with raw SQL, query by query")
                            # The raw table may have its HNSW index by now: scan exactly.
                            conn.execute("SET enable_indexscan = off")
                            variants["exact"]["paired_raw"] = run_paired(
                                NighSearcher(store, name),
                                _RawSearcher(conn, raw),
                                ctx.ds,
                                ctx.budget,
                            )
                        ctx.log("   nighdb's SQL through raw psycopg")
                        variants["nighdb SQL via psycopg"] = run_searches(
                            _NighSqlSearcher(conn, _nigh_table(conn, name)),
                            ctx.ds,
                            ctx.budget,
                            filters=False,
                            many=False,
                            log=ctx.log,
                        )
                return {"variants": variants}
            variants = {}
            with _connect(url) as conn:
                raw = _raw_table(conn, ctx)
                conn.execute("SET hnsw.iterative_scan = strict_order")
                for ef in ctx.ef_search:
                    ctx.log(f"   ef_search {ef}")
                    ours = NighSearcher(store, name, ef_search=ef)
                    variants[f"HNSW ef={ef}"] = result = run_searches(
                        ours, ctx.ds, ctx.budget, log=ctx.log
                    )
                    if raw is not None:
                        conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(ef)))
                        result["paired_raw"] = run_paired(
                            ours, _RawSearcher(conn, raw), ctx.ds, ctx.budget
                        )
            return {"variants": variants}
