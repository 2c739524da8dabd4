"""Durability and several stores on one database (contract §2 close/reopen, §8 shared file).

Reopening goes through ``store_factory``: the same underlying database, a new store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection, CollectionNotFoundError

from ._helpers import BIG, ids, raises

Factory = Callable[[], nighdb.Store]

PINS = {
    ("acme", "docs"): Collection("docs", 3, "model-a", "cosine"),
    ("acme", "images"): Collection("images", 4, "", "l2"),
    ("globex", "docs"): Collection("docs", 2, "model-g", "ip"),
}


def _items(pin: Collection, n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(pin.dimensions)
    return [
        {
            "id": f"{pin.name}-{k}-ü",
            "vector": rng.standard_normal(pin.dimensions).tolist(),
            "metadata": {"k": k, "big": 2**63 - 1 - k, "nested": {"l": [k, "s", None]}},
            "text": f"text {k} 😀",
        }
        for k in range(n)
    ]


def _fill(store: nighdb.Store) -> dict[tuple[str, str], list[dict[str, Any]]]:
    written = {}
    for (tenant, _), pin in PINS.items():
        assert store.ensure_collection(tenant, pin) == pin
        items = _items(pin, 25)
        store.upsert(tenant, pin.name, items)
        written[(tenant, pin.name)] = items
    return written


def _observe(store: nighdb.Store) -> dict[str, Any]:
    """Everything the store shows, as plain data."""
    seen: dict[str, Any] = {"tenants": store.list_tenants()}
    for tenant in seen["tenants"]:
        seen[tenant] = store.list_collections(tenant)
        for pin in seen[tenant]:
            probe = [1.0] * pin.dimensions
            matches = store.search(tenant, pin.name, probe, limit=BIG)
            seen[f"{tenant}/{pin.name}"] = (
                store.count(tenant, pin.name),
                sorted(store.list_ids(tenant, pin.name)),
                [(m.id, round(m.distance, 6), m.metadata, m.text) for m in matches],
            )
    return seen


def test_everything_survives_close_and_reopen(store_factory: Factory) -> None:
    first = store_factory()
    written = _fill(first)
    before = _observe(first)
    first.close()

    second = store_factory()
    assert second.list_tenants() == ["acme", "globex"]
    assert second.list_collections("acme") == [PINS[("acme", "docs")], PINS[("acme", "images")]]
    assert second.list_collections("globex") == [PINS[("globex", "docs")]]
    for (tenant, name), items in written.items():
        pin = PINS[(tenant, name)]
        assert second.describe_collection(tenant, name) == pin
        assert second.count(tenant, name) == len(items)
        for item in items[:5]:
            [m] = second.search(tenant, name, item["vector"], filter={"id": item["id"]})
            assert (m.metadata, m.text) == (item["metadata"], item["text"])
            if pin.metric == "l2":
                assert m.distance == pytest.approx(0.0, abs=1e-5)
            elif pin.metric == "cosine":
                assert m.distance == pytest.approx(0.0, abs=1e-6)
            else:
                assert m.score == pytest.approx(
                    float(np.dot(item["vector"], item["vector"])), abs=1e-5
                )
    assert _observe(second) == before


def test_deletes_drops_and_replacements_survive_reopen(store_factory: Factory) -> None:
    first = store_factory()
    written = _fill(first)
    docs = written[("acme", "docs")]
    assert first.delete("acme", "docs", [docs[0]["id"], docs[1]["id"]]) == 2
    first.upsert("acme", "docs", [{"id": docs[2]["id"], "vector": [0.0, 0.0, 1.0]}])
    assert first.drop_collection("acme", "images") == 25
    assert first.drop_collection("globex", "docs") == 25
    before = _observe(first)
    first.close()

    second = store_factory()
    assert _observe(second) == before
    assert second.list_tenants() == ["acme"]
    assert second.describe_collection("acme", "images") is None
    assert second.count("acme", "docs") == 23
    [m] = second.search("acme", "docs", [0.0, 0.0, 1.0], filter={"id": docs[2]["id"]})
    assert (m.metadata, m.text) == ({}, "")
    assert m.distance == pytest.approx(0.0, abs=1e-6)


def test_the_store_is_a_context_manager(store_factory: Factory) -> None:
    with store_factory() as s:
        s.ensure_collection("t", Collection("c", 2))
        s.upsert("t", "c", [{"id": "a", "vector": [1.0, 0.0], "text": "kept"}])
    reopened = store_factory()
    assert reopened.search("t", "c", [1.0, 0.0])[0].text == "kept"


def test_close_is_idempotent(store_factory: Factory) -> None:
    s = store_factory()
    s.ensure_collection("t", Collection("c", 2))
    s.close()
    s.close()
    assert store_factory().describe_collection("t", "c") == Collection("c", 2)


def test_two_open_stores_see_each_others_writes(store_factory: Factory) -> None:
    one, two = store_factory(), store_factory()
    one.ensure_collection("t", Collection("c", 2, "", "l2"))
    assert two.describe_collection("t", "c") == Collection("c", 2, "", "l2")
    assert two.search("t", "c", [0.0, 0.0]) == []

    one.upsert("t", "c", [{"id": f"i{n}", "vector": [float(n), 0.0]} for n in range(5)])
    assert ids(two.search("t", "c", [0.0, 0.0])) == ["i0", "i1", "i2", "i3", "i4"]

    # A replacement written by one store moves the item in the other's next search.
    one.upsert("t", "c", [{"id": "i0", "vector": [10.0, 0.0], "text": "moved"}])
    got = two.search("t", "c", [0.0, 0.0])
    assert ids(got) == ["i1", "i2", "i3", "i4", "i0"]
    assert got[-1].text == "moved"

    # A delete by the second store is seen by the first.
    assert two.delete("t", "c", ["i1", "i3"]) == 2
    assert ids(one.search("t", "c", [0.0, 0.0])) == ["i2", "i4", "i0"]
    assert one.count("t", "c") == 3

    # Delete then re-add the same id in one store: the other ranks the new vector.
    one.delete("t", "c", ["i2"])
    one.upsert("t", "c", [{"id": "i2", "vector": [20.0, 0.0]}])
    assert ids(two.search("t", "c", [0.0, 0.0])) == ["i4", "i0", "i2"]

    # Drop and re-create with another pin: the other store sees the new, empty collection.
    assert two.drop_collection("t", "c") == 3
    with raises(CollectionNotFoundError):
        one.search("t", "c", [0.0, 0.0])
    one.ensure_collection("t", Collection("c", 3, "", "cosine"))
    assert two.describe_collection("t", "c") == Collection("c", 3, "", "cosine")
    assert two.search("t", "c", [1.0, 0.0, 0.0]) == []
    two.upsert("t", "c", [{"id": "new", "vector": [1.0, 0.0, 0.0]}])
    assert ids(one.search("t", "c", [1.0, 0.0, 0.0])) == ["new"]
