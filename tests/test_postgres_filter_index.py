"""On PostgreSQL, selective equality filters are served by the GIN index on ``metadata``, and
paging by the id-order index: the plans PostgreSQL chooses for the backend's own statements.

The statements are the ones the store runs (``rows.where`` compiles the filter exactly as
``count`` and ``scroll`` do); ``EXPLAIN`` shows which index serves them. Speed itself is
measured in bench/pg_filtered.py, not asserted here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

import nighdb
from nighdb import Collection
from nighdb.backends.postgres import PostgresStore
from nighdb.backends.postgres.rows import where
from nighdb.backends.postgres.schema import ID_ORDER, after_id

from .pg_server import url_for

T = "acme"
N = 5_000
DIMS = 256
"""Rows of about 1 KB, as real embeddings make them: with tiny rows the whole table is a
few pages, and a plain scan is rightly cheaper than any index."""


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One collection for the module's tests, which only read it."""
    url = url_for(tmp_path_factory.mktemp("filter-index"))
    with nighdb.open_store(url) as store:
        store.ensure_collection(T, Collection("docs", DIMS))
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((N, DIMS)).astype(np.float32)
        store.upsert(
            T,
            "docs",
            [
                {
                    "id": f"item-{i:05d}",
                    "vector": vectors[i],
                    "metadata": {"cat": i % 100, "lang": ["en", "de", "fr"][i % 3], "odd": i % 2},
                }
                for i in range(N)
            ],
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    yield url


def _plan(url: str, statement: Callable[[sql.Identifier], sql.Composed], params: list[Any]) -> str:
    """The plan of ``statement(items table)`` with ``params``, as JSON text."""
    with psycopg.connect(url) as conn:
        (table_id,) = conn.execute("SELECT id FROM nigh_collections").fetchone() or (None,)
        table = sql.Identifier(f"nigh_items_{table_id}")
        explain = sql.SQL("EXPLAIN (FORMAT JSON) ") + statement(table)
        rows = conn.execute(explain, params).fetchall()
    return json.dumps(rows[0][0])


def _count_plan(url: str, filter: dict[str, Any]) -> str:
    condition, params = where(filter)
    return _plan(
        url, lambda t: sql.SQL("SELECT count(*) FROM {} WHERE {}").format(t, condition), params
    )


@pytest.mark.parametrize(
    "filter",
    [{"cat": 7}, {"cat": [7, 8]}, {"cat": {"in": [3]}}, {"lang": "en", "cat": 9}],
    ids=repr,
)
def test_selective_equality_reads_the_gin_index(url: str, filter: dict[str, Any]) -> None:
    plan = _count_plan(url, filter)
    assert "Bitmap Index Scan" in plan and "_meta" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_a_range_filter_does_not_pretend_to_use_it(url: str) -> None:
    # Ranges are not containment: the GIN index cannot serve them (a plain scan).
    assert "_meta" not in _count_plan(url, {"cat": {"lt": 1}})


def test_id_order_pages_read_the_order_index(url: str) -> None:
    page = sql.SQL("SELECT id FROM {} WHERE {} ORDER BY {} LIMIT 10")
    plan = _plan(
        url,
        lambda t: page.format(t, after_id(sql.Placeholder()), ID_ORDER),
        ["item-02500", "item-02500"],
    )
    assert "Index Scan" in plan and "_order" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_a_selective_filter_is_fast_in_every_call_not_only_the_first(url: str) -> None:
    """psycopg prepares a statement run five times; a generic plan ignores the filter's
    values. Filtered statements are never prepared, so the sixth run plans afresh."""
    with PostgresStore(url, pool_min_size=1, pool_max_size=1) as store:
        for _ in range(8):
            assert store.count(T, "docs", filter={"cat": 7}) == N // 100
        # The store's one connection holds no prepared statement with a filter.
        with store._pool.connection() as conn:
            prepared = conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    assert not any("@>" in str(row[0]) for row in prepared), prepared


@pytest.mark.parametrize(
    ("filter", "index"),
    [
        ({"id": "item-00042"}, "_pkey"),
        ({"id": {"in": ["item-00042", "item-04242"]}}, "_pkey"),
        ({"id": {"gte": "item-04990"}}, "_order"),
        ({"id": {"lt": "item-00010"}}, "_order"),
    ],
    ids=repr,
)
def test_id_filters_read_an_index(url: str, filter: dict[str, Any], index: str) -> None:
    # The primary key is the id's hash, so an id filter must say so to use it.
    plan = _count_plan(url, filter)
    assert index in plan and "Seq Scan" not in plan, plan
