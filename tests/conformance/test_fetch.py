"""fetch: the stored items by id (what export and migrate read), the same on every backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import CollectionNotFoundError, InvalidArgumentError, Item

from ._helpers import TENANT, make, raises

# Awkward float32 values: a subnormal, negative zero, the extremes, and values whose shortest
# decimal forms differ between float32 and float64.
AWKWARD = np.array(
    [0.1, -0.0, 1e-45, 3.4028235e38, -1.1754944e-38, 1 / 3, 16777217.0, 0.7], dtype=np.float32
)


def _bits(vector: Any) -> bytes:
    return np.asarray(vector).astype("<f4").tobytes()


def test_fetch_returns_exactly_what_was_stored(store: nighdb.Store) -> None:
    make(store, "docs", len(AWKWARD), metric="l2")
    metadata: dict[str, Any] = {
        "n": 2**63 - 1,
        "neg": -(2**63),
        "f": 0.1,
        "one": 1.0,
        "b": True,
        "nul": None,
    }
    metadata |= {"nested": {"list": [1, "two", [3.5, {"x": False}]]}, "ü": "ß 🎯"}
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "a", "vector": AWKWARD, "metadata": metadata, "text": "first ✓"},
            {"id": "b", "vector": AWKWARD[::-1].tolist()},
        ],
    )
    a, b = store.fetch(TENANT, "docs", ["a", "b"])
    assert isinstance(a, Item) and isinstance(b, Item)
    assert (a.id, b.id) == ("a", "b")
    for item, expected in [(a, AWKWARD), (b, AWKWARD[::-1])]:
        assert isinstance(item.vector, np.ndarray) and item.vector.dtype == np.float32
        assert item.vector.shape == (len(AWKWARD),)
        assert _bits(item.vector) == _bits(expected)  # bit for bit, -0.0 included
    assert a.metadata == metadata and a.text == "first ✓"
    assert isinstance(a.metadata["one"], float) and isinstance(a.metadata["n"], int)
    assert (b.metadata, b.text) == ({}, "")


def test_fetch_keeps_the_order_asked_each_id_once_and_omits_absent_ids(
    store: nighdb.Store,
) -> None:
    make(store, "docs", 2)
    store.upsert(TENANT, "docs", [{"id": i, "vector": [1.0, n]} for n, i in enumerate("abcd")])
    got = store.fetch(TENANT, "docs", ["c", "nope", "a", "c", "A", "d", "a"])
    assert [i.id for i in got] == ["c", "a", "d"]
    assert store.fetch(TENANT, "docs", []) == []
    assert store.fetch(TENANT, "docs", ["zz"]) == []
    assert [i.id for i in store.fetch(TENANT, "docs", iter(["b"]))] == ["b"]  # type: ignore[arg-type]


def test_fetch_sees_replacements_and_deletions(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "metadata": {"v": 1}}])
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [0.0, 2.0], "text": "new"}])
    [a] = store.fetch(TENANT, "docs", ["a"])
    assert (a.vector.tolist(), a.metadata, a.text) == ([0.0, 2.0], {}, "new")  # type: ignore[union-attr]
    store.delete(TENANT, "docs", ["a"])
    assert store.fetch(TENANT, "docs", ["a"]) == []


def test_fetch_many_ids(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="ip")
    n = 1500  # more than one request of the remote client
    vectors = np.random.default_rng(7).standard_normal((n, 3)).astype(np.float32)
    store.upsert(TENANT, "docs", [{"id": f"id{i:05d}", "vector": vectors[i]} for i in range(n)])
    wanted = [f"id{i:05d}" for i in reversed(range(n))] + ["missing"]
    got = store.fetch(TENANT, "docs", wanted)
    assert [i.id for i in got] == wanted[:-1]
    assert _bits(np.stack([np.asarray(i.vector) for i in got])) == _bits(vectors[::-1])


def test_fetch_is_tenant_scoped(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    make(store, "docs", 2, tenant="globex")
    store.upsert(TENANT, "docs", [{"id": "a", "vector": [1.0, 0.0], "text": "acme's"}])
    assert store.fetch("globex", "docs", ["a"]) == []
    with raises(CollectionNotFoundError):
        store.fetch("initech", "docs", ["a"])


def test_fetch_checks_existence_before_ids(store: nighdb.Store) -> None:
    with raises(CollectionNotFoundError):
        store.fetch(TENANT, "nope", [""])
    with raises(InvalidArgumentError):
        store.fetch("", "nope", ["a"])


@pytest.mark.parametrize("bad", [[""], ["a\x00b"], ["a", 5], "a", None], ids=repr)
def test_fetch_with_an_invalid_id_is_invalid_argument(store: nighdb.Store, bad: Any) -> None:
    make(store, "docs", 2)
    with raises(InvalidArgumentError):
        store.fetch(TENANT, "docs", bad)
