"""Approximate-index calls (contract §15) have one signature on every backend.

Until every backend can build an index, a backend without one still takes every call with
the same keywords and answers in nighdb's terms, never with a Python ``TypeError`` or
``AttributeError``: ``create_index`` is ``InvalidArgumentError`` (search stays exact),
``describe_index`` is ``None``, ``drop_index`` is ``False``, and ``search``/``search_many``
accept ``exact`` and ``ef_search``, checked and without effect, as on an unindexed
PostgreSQL collection. The check order is contract §2's: names, existence, then arguments
(``test_check_order.py`` holds the not-found and bad-name cases).
"""

from __future__ import annotations

from typing import Any

import pytest

import nighdb
from nighdb import IndexOptions, InvalidArgumentError

from ._helpers import BIG, TENANT, ids, make, raises

ITEMS = [
    {"id": f"i{n:02d}", "vector": [1.0, n / 10], "metadata": {"even": n % 2 == 0}}
    for n in range(20)
]


def has_indexes(backend: str) -> bool:
    """Backends whose ``create_index`` builds an index today (the others refuse it)."""
    return backend.startswith("postgres")


@pytest.fixture
def docs(store: nighdb.Store) -> nighdb.Store:
    make(store, "docs")
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


def test_create_index_builds_one_or_says_search_stays_exact(
    docs: nighdb.Store, backend: str
) -> None:
    query = [1.0, 0.55]
    exact = docs.search(TENANT, "docs", query, limit=BIG)
    if has_indexes(backend):
        assert docs.create_index(TENANT, "docs", m=4, ef_construction=8) == IndexOptions(4, 8)
        assert docs.describe_index(TENANT, "docs") == IndexOptions(4, 8)
        assert docs.search(TENANT, "docs", query, limit=BIG, exact=True) == exact
        assert ids(docs.search(TENANT, "docs", query, limit=3, ef_search=100)) == ids(exact[:3])
        assert docs.drop_index(TENANT, "docs") is True
    else:
        with raises(InvalidArgumentError) as info:
            docs.create_index(TENANT, "docs")
        message = info.value.message
        assert "not available" in message and "exact" in message and "'docs'" in message
    assert docs.describe_index(TENANT, "docs") is None
    assert docs.drop_index(TENANT, "docs") is False
    assert docs.search(TENANT, "docs", query, limit=BIG) == exact
    assert docs.count(TENANT, "docs") == len(ITEMS)  # nothing lost either way


def test_index_of_another_tenant_is_invisible(docs: nighdb.Store, backend: str) -> None:
    make(docs, "docs", tenant="globex")
    if has_indexes(backend):
        docs.create_index("globex", "docs")
    assert docs.describe_index(TENANT, "docs") is None
    assert docs.drop_index(TENANT, "docs") is False
