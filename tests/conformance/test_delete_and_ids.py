"""delete and list_ids (contract §2, §12): exact counts, byte-order paging."""

from __future__ import annotations

from typing import Any

import pytest

import nighdb
from nighdb import InvalidArgumentError

from ._helpers import TENANT, ids, make, raises


def _seed(store: nighdb.Store, item_ids: list[str]) -> None:
    make(store, "docs", 2)
    store.upsert(
        TENANT, "docs", [{"id": i, "vector": [1.0, float(n)]} for n, i in enumerate(item_ids)]
    )


# -- delete ------------------------------------------------------------------------------------


def test_delete_counts_rows_actually_removed(store: nighdb.Store) -> None:
    _seed(store, ["a", "b", "c", "d"])
    assert store.delete(TENANT, "docs", ["a", "a", "zz", "A"]) == 1  # repeated once, unknown 0
    assert sorted(store.list_ids(TENANT, "docs")) == ["b", "c", "d"]
    assert store.delete(TENANT, "docs", ["a"]) == 0  # already gone
    assert store.delete(TENANT, "docs", ["nope", "never"]) == 0
    assert store.delete(TENANT, "docs", []) == 0
    assert store.count(TENANT, "docs") == 3
    assert store.delete(TENANT, "docs", ["d", "b", "c", "b"]) == 3
    assert store.count(TENANT, "docs") == 0
    assert store.list_ids(TENANT, "docs") == []
    assert store.search(TENANT, "docs", [1.0, 0.0]) == []
    assert store.describe_collection(TENANT, "docs") is not None  # the collection stays


def test_deleted_items_leave_search_and_can_come_back(store: nighdb.Store) -> None:
    _seed(store, ["a", "b", "c"])
    assert ids(store.search(TENANT, "docs", [1.0, 0.0])) == ["a", "b", "c"]
    assert store.delete(TENANT, "docs", ["a"]) == 1
    assert ids(store.search(TENANT, "docs", [1.0, 0.0])) == ["b", "c"]
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [0.0, 1.0], "text": "back"}])
    got = store.search(TENANT, "docs", [0.0, 1.0], limit=1)
    assert (got[0].id, got[0].text) == ("a", "back")
    assert store.count(TENANT, "docs") == 3


def test_delete_accepts_any_iterable_of_ids(store: nighdb.Store) -> None:
    _seed(store, ["a", "b", "c"])
    assert store.delete(TENANT, "docs", ("a",)) == 1
    assert store.delete(TENANT, "docs", iter(["b"])) == 1  # type: ignore[arg-type]
    assert store.list_ids(TENANT, "docs") == ["c"]


@pytest.mark.parametrize(
    "bad",
    [[""], ["a\x00b"], ["b", ""], ["x" * 1025], [5], [None], ["b", b"c"], "b", None],
    ids=[
        "empty",
        "nul",
        "valid-then-empty",
        "too-long",
        "int",
        "none",
        "bytes",
        "str",
        "none-list",
    ],
)
def test_delete_with_an_invalid_id_deletes_nothing(store: nighdb.Store, bad: Any) -> None:
    _seed(store, ["a", "b", "c"])
    with raises(InvalidArgumentError):
        store.delete(TENANT, "docs", bad)
    assert sorted(store.list_ids(TENANT, "docs")) == ["a", "b", "c"]


def test_delete_many_ids_at_once(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    n = 40_000
    store.upsert(TENANT, "docs", [{"id": f"i{k}", "vector": [1.0, 0.5]} for k in range(n)])
    doomed = [f"i{k}" for k in range(0, n, 2)] + [f"missing{k}" for k in range(1000)]
    assert store.delete(TENANT, "docs", doomed) == n // 2
    assert set(store.list_ids(TENANT, "docs")) == {f"i{k}" for k in range(1, n, 2)}


# -- list_ids ----------------------------------------------------------------------------------

PAGED_IDS = ["b", "B", "a", "A", "_", "Z", "é", "😀", "\ufffd", "a0", "a-", "10", "9", "aa", "a"]
ORDER = ["10", "9", "A", "B", "Z", "_", "a", "a-", "a0", "aa", "b", "é", "\ufffd", "😀"]


def test_list_ids_without_paging_returns_every_id(store: nighdb.Store) -> None:
    _seed(store, PAGED_IDS)  # "a" twice: one item
    got = store.list_ids(TENANT, "docs")
    assert len(got) == len(ORDER)
    assert sorted(got) == ORDER


@pytest.mark.parametrize("page", [1, 2, 3, 5, 14, 15, 1000])
def test_paging_walks_every_id_once_in_byte_order(store: nighdb.Store, page: int) -> None:
    _seed(store, PAGED_IDS)
    walked: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        chunk = store.list_ids(TENANT, "docs", after=after, limit=page)
        assert len(chunk) <= page
        if not chunk:
            break
        walked += chunk
        after = chunk[-1]
        pages += 1
        assert pages <= len(ORDER) + 1
    assert walked == ORDER


def test_paging_cursor_semantics(store: nighdb.Store) -> None:
    _seed(store, PAGED_IDS)
    assert store.list_ids(TENANT, "docs", limit=3) == ["10", "9", "A"]
    assert store.list_ids(TENANT, "docs", after="A", limit=3) == ["B", "Z", "_"]
    # The cursor need not be a stored id.
    assert store.list_ids(TENANT, "docs", after="a+", limit=2) == ["a-", "a0"]
    assert store.list_ids(TENANT, "docs", after="") == ORDER
    assert store.list_ids(TENANT, "docs", after="a0") == ["aa", "b", "é", "\ufffd", "😀"]
    assert store.list_ids(TENANT, "docs", after="😀") == []
    assert store.list_ids(TENANT, "docs", after="\U0010ffff", limit=5) == []
    assert store.list_ids(TENANT, "docs", limit=1000) == ORDER


@pytest.mark.parametrize("limit", [0, -1, -10])
def test_list_ids_limit_must_be_positive(store: nighdb.Store, limit: int) -> None:
    _seed(store, ["a"])
    with raises(InvalidArgumentError):
        store.list_ids(TENANT, "docs", limit=limit)
    with raises(InvalidArgumentError):
        store.list_ids(TENANT, "docs", after="a", limit=limit)


def test_list_ids_of_an_empty_collection(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    assert store.list_ids(TENANT, "docs") == []
    assert store.list_ids(TENANT, "docs", limit=5) == []
    assert store.list_ids(TENANT, "docs", after="a", limit=5) == []
