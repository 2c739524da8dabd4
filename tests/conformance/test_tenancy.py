"""Tenant isolation (contract §1, §2): identical names and ids, never shared, never leaked."""

from __future__ import annotations

import nighdb
from nighdb import Collection, CollectionNotFoundError

from ._helpers import BIG, ids, make, matching, raises

A, B = "tenant-a", "tenant-b"
ITEM_IDS = ["x", "y", "z"]


def _seed(store: nighdb.Store) -> None:
    make(store, "docs", 2, model="model-a", tenant=A)
    make(store, "docs", 2, model="model-b", tenant=B)
    for tenant, direction in [(A, [1.0, 0.0]), (B, [0.0, 1.0])]:
        store.upsert(
            tenant,
            "docs",
            [
                {
                    "id": i,
                    "vector": [direction[0] + 0.1 * n, direction[1] + 0.1 * n],
                    "metadata": {"owner": tenant, "n": n},
                    "text": f"{tenant}:{i}",
                }
                for n, i in enumerate(ITEM_IDS)
            ],
        )


def _owners(store: nighdb.Store, tenant: str) -> set[str]:
    return {m.metadata["owner"] for m in store.search(tenant, "docs", [1.0, 1.0], limit=BIG)}


def test_reads_see_only_the_own_tenant(store: nighdb.Store) -> None:
    _seed(store)
    for tenant in (A, B):
        assert store.count(tenant, "docs") == 3
        assert sorted(store.list_ids(tenant, "docs")) == ITEM_IDS
        assert store.list_ids(tenant, "docs", after="x", limit=10) == ["y", "z"]
        got = store.search(tenant, "docs", [1.0, 1.0], limit=BIG)
        assert sorted(ids(got)) == ITEM_IDS
        assert {m.metadata["owner"] for m in got} == {tenant}
        assert {m.text for m in got} == {f"{tenant}:{i}" for i in ITEM_IDS}
        assert matching(store, {"id": "x"}, tenant=tenant) == {"x"}
        other = B if tenant == A else A
        assert matching(store, {"owner": other}, tenant=tenant) == set()
        for row in store.search_many(tenant, "docs", [[1.0, 0.0], [0.0, 1.0]], limit=BIG):
            assert {m.metadata["owner"] for m in row} == {tenant}
    assert store.describe_collection(A, "docs") == Collection("docs", 2, "model-a", "cosine")
    assert store.describe_collection(B, "docs") == Collection("docs", 2, "model-b", "cosine")
    assert store.list_collections(A) == [Collection("docs", 2, "model-a", "cosine")]
    assert store.list_collections(B) == [Collection("docs", 2, "model-b", "cosine")]
    # Nearest neighbours come from the own tenant's vectors.
    assert store.search(A, "docs", [1.0, 0.0], limit=1)[0].text == f"{A}:x"
    assert store.search(B, "docs", [0.0, 1.0], limit=1)[0].text == f"{B}:x"


def test_writes_in_one_tenant_never_change_another(store: nighdb.Store) -> None:
    _seed(store)
    store.upsert(A, "docs", [{"id": "x", "vector": [5.0, 5.0], "metadata": {"owner": "new"}}])
    store.upsert(A, "docs", [{"id": "only-a", "vector": [1.0, 1.0], "metadata": {"owner": A}}])
    assert store.delete(A, "docs", ["y"]) == 1
    assert store.count(B, "docs") == 3
    assert sorted(store.list_ids(B, "docs")) == ITEM_IDS
    assert _owners(store, B) == {B}
    [bx] = store.search(B, "docs", [1.0, 1.0], filter={"id": "x"})
    assert (bx.metadata, bx.text) == ({"owner": B, "n": 0}, f"{B}:x")
    # Deleting B's ids from A removes only what A has.
    assert store.delete(A, "docs", ["y", "z"]) == 1
    assert store.count(B, "docs") == 3


def test_pins_are_per_tenant(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2", tenant=A)
    # The same name with an incompatible pin is no conflict in another tenant.
    assert store.ensure_collection(B, Collection("docs", 5, "m", "ip")) == Collection(
        "docs", 5, "m", "ip"
    )
    assert store.describe_collection(A, "docs") == Collection("docs", 3, "", "l2")
    store.upsert(B, "docs", [{"id": "v", "vector": [1.0] * 5}])
    store.upsert(A, "docs", [{"id": "v", "vector": [1.0] * 3}])
    assert store.count(A, "docs") == 1 and store.count(B, "docs") == 1


def test_drop_in_one_tenant_leaves_the_other_intact(store: nighdb.Store) -> None:
    _seed(store)
    assert store.drop_collection(A, "docs") == 3
    assert store.describe_collection(A, "docs") is None
    with raises(CollectionNotFoundError) as info:
        store.search(A, "docs", [1.0, 0.0])
    assert (info.value.tenant, info.value.collection) == (A, "docs")
    assert store.count(B, "docs") == 3
    assert _owners(store, B) == {B}
    assert store.list_collections(A) == []
    assert store.list_tenants() == [B]
    # Re-creating in A starts empty; B is still untouched.
    make(store, "docs", 2, tenant=A)
    assert store.count(A, "docs") == 0
    assert store.count(B, "docs") == 3


def test_a_collection_of_another_tenant_does_not_exist(store: nighdb.Store) -> None:
    make(store, "private", 2, tenant=A)
    store.upsert(A, "private", [{"id": "secret", "vector": [1.0, 0.0]}])
    assert store.describe_collection(B, "private") is None
    assert store.list_collections(B) == []
    assert store.drop_collection(B, "private") == 0
    with raises(CollectionNotFoundError):
        store.count(B, "private")
    with raises(CollectionNotFoundError):
        store.upsert(B, "private", [{"id": "y", "vector": [1.0, 0.0]}])
    with raises(CollectionNotFoundError):
        store.delete(B, "private", ["secret"])
    assert store.list_ids(A, "private") == ["secret"]
    assert store.list_tenants() == [A]


def test_tenant_names_are_exact(store: nighdb.Store) -> None:
    # Case, whitespace and prefixes make different tenants.
    for n, tenant in enumerate(["t", "T", "t ", " t", "tt", "t/"]):
        make(store, "docs", n + 1, tenant=tenant)
    assert store.list_tenants() == [" t", "T", "t", "t ", "t/", "tt"]
    assert store.describe_collection("t", "docs") == Collection("docs", 1)
    assert store.describe_collection("T", "docs") == Collection("docs", 2)
    assert store.describe_collection("tt", "docs") == Collection("docs", 5)
