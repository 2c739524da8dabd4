"""Approximate indexes (contract §15): one interface, and exact answers' shape, everywhere.

Every backend builds an index on ``create_index``: pgvector's HNSW on PostgreSQL, a usearch
HNSW graph beside the file on SQLite, and the remote backend whatever its service's store
does. A search through an index returns ``min(limit, matches)`` items that pass the filter,
in (distance, id) order, with the exact float64 distances of the exact scan; ``exact=True``
ignores the index. The check order is contract §2's: names, existence, then arguments
(``test_check_order.py`` holds the not-found and bad-name cases).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import IndexOptions, InvalidArgumentError

from ._helpers import BIG, TENANT, ids, make, raises

ITEMS = [
    {"id": f"i{n:02d}", "vector": [1.0, n / 10], "metadata": {"even": n % 2 == 0}}
    for n in range(20)
]


@pytest.fixture
def docs(store: nighdb.Store) -> nighdb.Store:
    make(store, "docs")
    store.drop_index(TENANT, "docs")  # the indexed variants index every new collection
    store.upsert(TENANT, "docs", ITEMS)
    return store


def test_a_new_collection_has_no_index(docs: nighdb.Store) -> None:
    assert docs.describe_index(TENANT, "docs") is None
    assert docs.drop_index(TENANT, "docs") is False


@pytest.mark.parametrize(
    "options",
    [{"exact": True}, {"exact": False}, {"ef_search": 1}, {"ef_search": 1000, "exact": True}],
    ids=["exact", "not-exact", "ef_search-1", "ef_search-1000-exact"],
)
def test_search_keywords_change_nothing_without_an_index(
    docs: nighdb.Store, options: dict[str, Any]
) -> None:
    query, filter_ = [1.0, 0.55], {"even": True}
    plain = docs.search(TENANT, "docs", query, limit=5, filter=filter_)
    assert docs.search(TENANT, "docs", query, limit=5, filter=filter_, **options) == plain
    many = docs.search_many(TENANT, "docs", [query, [0.0, 1.0]], limit=BIG, **options)
    assert many == docs.search_many(TENANT, "docs", [query, [0.0, 1.0]], limit=BIG)
    assert docs.search_many(TENANT, "docs", [], **options) == []


@pytest.mark.parametrize("ef_search", [0, 1001, -1, 2.5, "40", True], ids=repr)
def test_bad_ef_search_is_invalid_argument(docs: nighdb.Store, ef_search: Any) -> None:
    with raises(InvalidArgumentError) as info:
        docs.search(TENANT, "docs", [1.0, 0.0], ef_search=ef_search)
    assert "ef_search" in info.value.message
    with raises(InvalidArgumentError):
        docs.search_many(TENANT, "docs", [[1.0, 0.0]], ef_search=ef_search)


@pytest.mark.parametrize("exact", ["yes", 1, 0, None], ids=repr)
def test_exact_must_be_a_bool(docs: nighdb.Store, exact: Any) -> None:
    with raises(InvalidArgumentError) as info:
        docs.search(TENANT, "docs", [1.0, 0.0], exact=exact)
    assert "exact" in info.value.message
    with raises(InvalidArgumentError):
        docs.search_many(TENANT, "docs", [[1.0, 0.0]], exact=exact)


@pytest.mark.parametrize(
    ("m", "ef_construction", "word"),
    [(1, 64, "m"), (101, 400, "m"), ("16", 64, "m"), (16, 3, "ef_construction"), (16, 20, "2 * m")],
    ids=["m-too-small", "m-too-large", "m-string", "ef-too-small", "ef-below-2m"],
)
def test_bad_index_options_are_invalid_argument_everywhere(
    docs: nighdb.Store, m: Any, ef_construction: Any, word: str
) -> None:
    with raises(InvalidArgumentError) as info:
        docs.create_index(TENANT, "docs", m=m, ef_construction=ef_construction)
    assert word in info.value.message
    assert docs.describe_index(TENANT, "docs") is None


def test_create_describe_and_drop_an_index(docs: nighdb.Store) -> None:
    query = [1.0, 0.55]
    exact = docs.search(TENANT, "docs", query, limit=BIG)
    assert docs.create_index(TENANT, "docs", m=4, ef_construction=8) == IndexOptions(4, 8)
    assert docs.describe_index(TENANT, "docs") == IndexOptions(4, 8)
    assert docs.search(TENANT, "docs", query, limit=BIG, exact=True) == exact
    assert ids(docs.search(TENANT, "docs", query, limit=3, ef_search=100)) == ids(exact[:3])
    # Building again replaces the options.
    assert docs.create_index(TENANT, "docs", m=8, ef_construction=16) == IndexOptions(8, 16)
    assert docs.describe_index(TENANT, "docs") == IndexOptions(8, 16)
    assert docs.drop_index(TENANT, "docs") is True
    assert docs.describe_index(TENANT, "docs") is None
    assert docs.drop_index(TENANT, "docs") is False
    assert docs.search(TENANT, "docs", query, limit=BIG) == exact
    assert docs.count(TENANT, "docs") == len(ITEMS)  # nothing lost either way


def test_index_of_another_tenant_is_invisible(docs: nighdb.Store) -> None:
    make(docs, "docs", tenant="globex")
    docs.create_index("globex", "docs")
    assert docs.describe_index(TENANT, "docs") is None
    assert docs.drop_index(TENANT, "docs") is False
    assert docs.describe_index("globex", "docs") == IndexOptions()


def test_dropping_the_collection_drops_its_index(docs: nighdb.Store) -> None:
    docs.create_index(TENANT, "docs")
    docs.drop_collection(TENANT, "docs")
    docs.ensure_collection(TENANT, nighdb.Collection("docs", 2))
    docs.drop_index(TENANT, "docs")  # an indexed variant indexed the new collection
    assert docs.describe_index(TENANT, "docs") is None
    assert docs.search(TENANT, "docs", [1.0, 0.0]) == []


# -- searching through an index --------------------------------------------------------------

N_WIDE = 400


def _wide_items() -> list[dict[str, Any]]:
    rng = np.random.default_rng(15)
    vectors = rng.standard_normal((N_WIDE, 8)).astype(np.float32)
    return [
        {
            "id": f"w{n:03d}",
            "vector": vectors[n].tolist(),
            "metadata": {"tenth": n % 10 == 0, "half": n % 2, "rank": n},
        }
        for n in range(N_WIDE)
    ]


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_indexed_search_keeps_the_contract_under_filters(store: nighdb.Store, metric: str) -> None:
    make(store, "wide", 8, metric=metric)
    store.upsert(TENANT, "wide", _wide_items())
    store.create_index(TENANT, "wide", m=8, ef_construction=32)
    queries = np.random.default_rng(7).standard_normal((6, 8)).astype(np.float32).tolist()
    filters: list[dict[str, Any] | None] = [
        None,
        {"half": 1},
        {"tenth": True},
        {"rank": {"lt": 7}},
        {"rank": {"gte": 10_000}},
    ]
    for filter_ in filters:
        every = store.search_many(TENANT, "wide", queries, limit=BIG, filter=filter_, exact=True)
        overlaps, founds = 0, 0
        for limit in (1, 10, 60):
            got = store.search_many(TENANT, "wide", queries, limit=limit, filter=filter_)
            for found, exact in zip(got, every, strict=True):
                assert len(found) == min(limit, len(exact)), (filter_, limit)
                keys = [(m.distance, m.id) for m in found]
                assert keys == sorted(keys)
                distance = {m.id: m.distance for m in exact}
                for m in found:
                    assert m.id in distance  # it passes the filter
                    assert m.distance == pytest.approx(distance[m.id], rel=1e-9, abs=1e-12)
                    assert isinstance(m.distance, float)
                overlaps += len({m.id for m in found} & {m.id for m in exact[:limit]})
                founds += len(found)
        # Recall on 400 items with ef_search at its default: measured, not assumed, in the
        # benchmarks; here only a floor that a broken index cannot reach, over all of this
        # filter's answers (one query's top 1 may miss now and then: the graph approximates).
        assert overlaps >= 0.8 * founds, (filter_, overlaps, founds)
        single = store.search(TENANT, "wide", queries[0], limit=10, filter=filter_)
        assert single == store.search_many(TENANT, "wide", queries[:1], limit=10, filter=filter_)[0]


def test_the_index_follows_every_write(store: nighdb.Store) -> None:
    make(store, "wide", 8)
    items = _wide_items()
    store.upsert(TENANT, "wide", items[:300])
    store.create_index(TENANT, "wide", m=8, ef_construction=32)
    probe = items[350]["vector"]
    assert store.search(TENANT, "wide", probe, limit=1)[0].id != "w350"
    store.upsert(TENANT, "wide", items[300:])  # new rows
    assert store.search(TENANT, "wide", probe, limit=1)[0].id == "w350"
    store.delete(TENANT, "wide", ["w350"])  # a deleted row never comes back
    assert "w350" not in ids(store.search(TENANT, "wide", probe, limit=20))
    store.update(TENANT, "wide", [{"id": "w001", "vector": probe}])  # a moved row
    top = store.search(TENANT, "wide", probe, limit=1)[0]
    assert top.id == "w001"
    assert top.distance == pytest.approx(0.0, abs=1e-6)
    store.delete(TENANT, "wide", filter={})
    assert store.search(TENANT, "wide", probe) == []
    assert store.describe_index(TENANT, "wide") == IndexOptions(8, 32)


def test_an_index_outlives_the_store_that_built_it(
    store_factory: Callable[[], nighdb.Store],
) -> None:
    first = store_factory()
    make(first, "wide", 8)
    items = _wide_items()
    first.upsert(TENANT, "wide", items)
    first.create_index(TENANT, "wide", m=8, ef_construction=32)
    first.close()
    second = store_factory()
    assert second.describe_index(TENANT, "wide") == IndexOptions(8, 32)
    assert second.search(TENANT, "wide", items[5]["vector"], limit=1)[0].id == "w005"
