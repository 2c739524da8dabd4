"""Search for the pgvector backend: rank on the server, re-rank the candidates in float64.

pgvector sums in float32, so its order can differ from the exact one by near-ties. The
server returns ``limit`` plus a margin of candidates, ordered by its distance and then by id;
here they get their float64 distances (the same code as SQLite's ranking) and are ordered by
``(distance, id)``. Distances are then exactly SQLite's, and the lists agree unless a float32
error exceeds the whole margin's spread of distances.

Exact scans order by pgvector's distance functions, which no index serves. Indexed
(approximate) scans order by the operators (on ``halfvec`` above 2,000 dimensions, as the
index does: ``index``), with ``hnsw.ef_search`` and iterative scans (pgvector >= 0.8) set by
``SET LOCAL`` inside the search's own transaction, so nothing is left on the session for a
pooled or PgBouncer-shared connection to carry to the next user (contract §17). Any query
that got fewer than ``limit`` rows is run again exactly: the result always has
``min(limit, matches)`` items.

``search_many`` sends its queries as one ``vector[]`` parameter and ranks them with a
``LATERAL`` join: one round trip per chunk of queries. An exact one of many queries reads
the collection once instead (``scan``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg import Cursor, sql
from psycopg.adapt import PyFormat
from psycopg.rows import TupleRow

from ...models import F32, Match, score_for
from ...ranking import exact_distances
from .driver_errors import ended_on_error
from .filter import prepare_option
from .index import indexed
from .scan import STREAM_MIN_QUERIES, scan_many
from .schema import Conn, Layout

__all__ = ["Ranker", "SearchPlan"]


# Queries per LATERAL statement: bounds one statement's result set.
_QUERY_CHUNK = 256


@dataclass(frozen=True)
class SearchPlan:
    """A validated search: query rows, ``limit``, the compiled filter, and ``ef_search``
    when the collection's index is to be used (None: exact)."""

    queries: F32
    limit: int
    where: tuple[sql.SQL, list[object]] | None
    ef_search: int | None


_MAX_BIGINT = 2**63 - 1

_MAX_EF_SEARCH = 1000  # pgvector's limit

FILTERED_EF_FACTOR = 10
"""How many times ``ef_search`` a filtered search on an HNSW index explores (up to 1000)."""

# What a search returns of each candidate (``t``: the items table; ``c``: a ranked subquery).
_PAYLOAD = sql.SQL("id, t.embedding, t.metadata_json, t.text")
_PAYLOAD_OF_C = sql.SQL("c.id, c.embedding, c.metadata_json, c.text")


def candidates(limit: int) -> int:
    """Rows to fetch for a top-``limit``: a margin for re-ranking near-ties in float64.

    Capped at PostgreSQL's bigint, the type of ``LIMIT``: any larger limit means "every
    matching row" (contract §5: ``min(limit, matches)``), never an out-of-range error.
    """
    return min(limit + min(max(limit, 8), 64), _MAX_BIGINT)


class Ranker:
    """Builds and runs the search statements of one store's layout."""

    def __init__(self, layout: Layout, *, iterative_scans: bool) -> None:
        self._layout = layout
        self._iterative = iterative_scans

    def search(
        self, conn: Conn, collection_id: int, metric: str, plan: SearchPlan
    ) -> list[list[Match]]:
        n = plan.queries.shape[0]
        if n == 0:
            return []
        if plan.ef_search is None:
            rows = self._exact(conn, collection_id, metric, plan, list(range(n)))
        else:
            rows = self._indexed(conn, collection_id, metric, plan)
            short = [j for j in range(n) if len(rows[j]) < plan.limit]
            if short:
                # The index ran out (a selective filter, or max_scan_tuples): scan exactly.
                redone = self._exact(conn, collection_id, metric, plan, short)
                for j, got in zip(short, redone, strict=True):
                    rows[j] = got
        return [_rerank(rows[j], plan.queries[j], metric, plan.limit) for j in range(n)]

    def _exact(
        self, conn: Conn, collection_id: int, metric: str, plan: SearchPlan, which: list[int]
    ) -> list[list[TupleRow]]:
        """Exact candidates of the queries ``which``: a server-side scan per query, or one
        streamed pass for them all when there are many (``scan``)."""
        if len(which) >= STREAM_MIN_QUERIES:
            queries = plan.queries[which]
            where = self._where(plan)
            return scan_many(conn, self._layout, collection_id, metric, queries, plan.limit, where)
        fetch = candidates(plan.limit)
        # Each statement's rows are read before the next one runs, so only one chunk of
        # queries' rows is in psycopg's buffers at a time.
        sent = self._send(conn, collection_id, metric, plan, which, fetch, exact=True)
        return [rows for statement in sent for rows in _received([statement])]

    def _where(self, plan: SearchPlan) -> tuple[sql.Composable, list[object]]:
        if plan.where is None:
            return sql.SQL("true"), []
        return plan.where

    def _order(
        self, metric: str, exact: bool, query: sql.Composable, dimensions: int
    ) -> sql.Composed:
        if exact:
            return sql.SQL("{}(embedding, {}), id").format(
                self._layout.exact_distance(metric), query
            )
        # The operator alone, on the expression the index holds, so the planner uses it.
        column = indexed(self._layout, dimensions, sql.Identifier("embedding"))
        value = indexed(self._layout, dimensions, query)
        return sql.SQL("{} {} {}").format(column, self._layout.operator(metric), value)

    def configure(self, conn: Conn) -> None:
        """Session settings of a new pooled connection: none. Index-scan settings are set
        per search, in its transaction (``_settings``)."""

    def _settings(self, ef_search: int) -> sql.Composed:
        """``SET LOCAL`` of an index search: ``ef_search``, and iterative index scans
        (pgvector >= 0.8), so a filtered HNSW scan goes on until it has ``limit`` rows.

        ``relaxed_order`` rather than ``strict_order``: it found more of the true neighbours
        under a filter (recall@10 0.95 against 0.84 for a 1% filter at 100k, bench/), and
        its slight disorder does not matter here, since every result is re-ranked exactly.
        """
        # set_config(…, true) is SET LOCAL as one statement, which a pipeline requires.
        settings = sql.SQL("SELECT set_config('hnsw.ef_search', {}, true)").format(
            sql.Literal(str(ef_search))
        )
        if self._iterative:
            settings += sql.SQL(", set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        return settings

    def _indexed(
        self, conn: Conn, collection_id: int, metric: str, plan: SearchPlan
    ) -> list[list[TupleRow]]:
        """The index's best rows of each query.

        Unfiltered: ``limit`` rows and no margin, since the index's order is approximate
        anyway and every extra row costs a heap visit and its vector on the wire (a third
        of a small search's time). Filtered: a relaxed-order scan, so ``limit`` plus the
        re-ranking margin, and ``FILTERED_EF_FACTOR`` times the candidates per round, as
        the filter discards most of them (measured: recall@10 under a 10% filter 0.79 at
        ``ef_search`` 64, 0.97 at 400).
        """
        assert plan.ef_search is not None
        ef_search = plan.ef_search
        if plan.where is None:
            fetch = min(plan.limit, _MAX_BIGINT)
        else:
            fetch = candidates(plan.limit)
            ef_search = max(ef_search, min(ef_search * FILTERED_EF_FACTOR, _MAX_EF_SEARCH))
        settings = self._settings(max(ef_search, min(fetch, _MAX_EF_SEARCH)))
        every = list(range(plan.queries.shape[0]))
        # One pipeline, one round trip: BEGIN, the settings, the search and COMMIT leave
        # together and their results come back at its exit's Sync, read after it (a
        # session SET cached per connection took a round trip, but a pooler or a pool reset
        # loses it; fetching inside the pipeline made COMMIT a second round trip).
        with ended_on_error(conn):
            with conn.pipeline():
                conn.execute("BEGIN")
                conn.execute(settings)
                sent = list(
                    self._send(conn, collection_id, metric, plan, every, fetch, exact=False)
                )
                conn.execute("COMMIT")
            return _received(sent)

    def _send(
        self,
        conn: Conn,
        collection_id: int,
        metric: str,
        plan: SearchPlan,
        which: list[int],
        fetch: int,
        *,
        exact: bool,
    ) -> Iterator[_Sent]:
        """The statements that fetch the candidate rows of the queries ``which``: ``fetch``
        per query, unordered (``_rerank`` orders them). Each is executed (in a pipeline:
        queued) when the next is asked for, and none is read (``_received`` reads them).

        An exact scan ranks primary keys alone and joins the payload to the winners by them:
        carrying every scanned row's vector, metadata and text through the sort made it
        measurably slower than the same scan returning ids. An index scan visits few rows,
        and there the join would cost more than it saves.
        """
        table = self._layout.items(collection_id)
        where, where_params = self._where(plan)
        ranked = sql.SQL(
            "SELECT {columns} FROM {table} AS t WHERE {where} ORDER BY {order} LIMIT %s"
        )
        if len(which) == 1:
            order = self._order(
                metric, exact, sql.Placeholder(format=PyFormat.BINARY), plan.queries.shape[1]
            )
            params: list[Any] = [*where_params, plan.queries[which[0]], fetch]
            query = ranked.format(columns=_PAYLOAD, table=table, where=where, order=order)
            if exact:
                ids = ranked.format(
                    columns=sql.SQL("id_hash"), table=table, where=where, order=order
                )
                query = sql.SQL(
                    "SELECT {payload} FROM ({ids}) AS c JOIN {table} AS t USING (id_hash)"
                ).format(payload=_PAYLOAD, ids=ids, table=table)
            prepare = prepare_option(where_params)
            yield conn.execute(query, params, binary=True, prepare=prepare), None
            return
        order = self._order(metric, exact, sql.SQL("q.v"), plan.queries.shape[1])
        columns = sql.SQL("id_hash") if exact else _PAYLOAD
        inner = ranked.format(columns=columns, table=table, where=where, order=order)
        lateral = sql.SQL(
            "SELECT q.ord, {payload} FROM unnest(%b::{vector}[]) WITH ORDINALITY AS q(v, ord) "
            "CROSS JOIN LATERAL ({inner}) AS c{join}"
        ).format(
            payload=_PAYLOAD if exact else _PAYLOAD_OF_C,
            vector=self._layout.vector_type,
            inner=inner,
            join=sql.SQL(" JOIN {} AS t USING (id_hash)").format(table) if exact else sql.SQL(""),
        )
        for start in range(0, len(which), _QUERY_CHUNK):
            chunk = which[start : start + _QUERY_CHUNK]
            params = [[plan.queries[j] for j in chunk], *where_params, fetch]
            prepare = prepare_option(where_params)
            yield conn.execute(lateral, params, binary=True, prepare=prepare), len(chunk)


# A statement of ``Ranker._send``: its cursor, and how many queries its rows answer (each row's
# first column their ordinal) or ``None`` for one query's rows alone.
_Sent = tuple[Cursor[TupleRow], int | None]


def _received(sent: list[_Sent]) -> list[list[TupleRow]]:
    """The rows of ``_send``'s statements, per query in their order."""
    out: list[list[TupleRow]] = []
    for cursor, queries in sent:
        if queries is None:
            out.append(cursor.fetchall())
            continue
        per_query: list[list[TupleRow]] = [[] for _ in range(queries)]
        for row in cursor:
            per_query[int(row[0]) - 1].append(row[1:])
        out.extend(per_query)
    return out


def _rerank(rows: list[TupleRow], query: F32, metric: str, limit: int) -> list[Match]:
    """Order the server's candidates by exact float64 distance, then id; keep ``limit``."""
    if not rows:
        return []
    ids = [str(r[0]) for r in rows]
    vectors = np.stack([r[1] for r in rows])
    distances = exact_distances(vectors, query, metric).tolist()
    best = sorted(range(len(rows)), key=lambda i: (distances[i], ids[i]))[:limit]
    return [
        Match(
            id=ids[i],
            distance=distances[i],
            score=score_for(metric, distances[i]),
            metadata=json.loads(rows[i][2]),
            text=str(rows[i][3]),
        )
        for i in best
    ]
