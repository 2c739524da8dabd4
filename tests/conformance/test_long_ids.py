"""The longest ids the contract allows (1,024 characters, four UTF-8 bytes each: 4,096 bytes)
work on every backend, in every operation that takes or returns ids, and survive migration.

PostgreSQL once refused them: a btree entry may not exceed about 2,700 bytes, and the id was
the primary key. Two of the ids here share their first 600 characters, past the 512 that
PostgreSQL's id-order index holds, so paging must break the tie by the full id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nighdb
from nighdb.migrate import migrate

from .. import pg_server
from ._helpers import TENANT, make

FOUR_BYTES = "\U0001f3af"  # 🎯: four bytes in UTF-8
SHARED = FOUR_BYTES * 600
LONG_A = SHARED + "a" * 424  # 1,024 characters
LONG_B = SHARED + "b" + FOUR_BYTES * 423  # 1,024 characters, 4,093 bytes
LONGEST = FOUR_BYTES * 1024  # 4,096 bytes
IDS = ["short", LONG_A, LONG_B, LONGEST, SHARED]
"""In no particular order; byte order is ``sorted(IDS)`` (code point order)."""


def _fill(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="l2")
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": item_id, "vector": [float(i), 1.0], "metadata": {"n": i}}
            for i, item_id in enumerate(IDS)
        ],
    )


def test_long_ids_in_every_operation(store: nighdb.Store) -> None:
    assert all(len(i) <= 1024 for i in IDS) and len(LONGEST.encode()) == 4096
    _fill(store)
    assert [item.id for item in store.fetch(TENANT, "docs", [LONGEST, LONG_B])] == [
        LONGEST,
        LONG_B,
    ]
    assert store.list_ids(TENANT, "docs", limit=10) == sorted(IDS)
    # Paging one at a time crosses the ids that differ only after the 512th character.
    walked: list[str] = []
    after: str | None = None
    while page := store.list_ids(TENANT, "docs", after=after, limit=1):
        walked += page
        after = page[-1]
    assert walked == sorted(IDS)
    scrolled = store.scroll(TENANT, "docs", after=SHARED, limit=2)
    assert [item.id for item in scrolled] == sorted(IDS)[sorted(IDS).index(SHARED) + 1 :][:2]
    assert store.count(TENANT, "docs", filter={"id": {"in": [LONG_A, LONGEST]}}) == 2
    best = store.search(TENANT, "docs", [3.0, 1.0], limit=1)
    assert [m.id for m in best] == [LONGEST]

    # Replacing and patching a long id keeps one row.
    store.upsert(TENANT, "docs", [{"id": LONG_A, "vector": [9.0, 9.0], "metadata": {"n": 9}}])
    assert store.update(TENANT, "docs", [{"id": LONG_B, "metadata_patch": {"n": 7}}]) == 1
    assert store.count(TENANT, "docs") == len(IDS)
    got = {item.id: item for item in store.fetch(TENANT, "docs", [LONG_A, LONG_B])}
    assert got[LONG_A].metadata == {"n": 9} and got[LONG_B].metadata == {"n": 7}
    np.testing.assert_array_equal(got[LONG_A].vector, np.array([9.0, 9.0], dtype=np.float32))

    assert store.delete(TENANT, "docs", [LONG_A, LONGEST]) == 2
    assert store.list_ids(TENANT, "docs", limit=10) == sorted(set(IDS) - {LONG_A, LONGEST})


def test_long_ids_survive_migration(store: nighdb.Store, store_url: str, tmp_path: Path) -> None:
    """Out of this backend into SQLite, then into a fresh PostgreSQL store: nothing lost."""
    _fill(store)
    expected = store.fetch(TENANT, "docs", IDS)
    middle_url = f"sqlite:///{tmp_path / 'middle.db'}"
    with (
        nighdb.open_store(store_url) as source,  # migrate takes the sync API (and its keys)
        nighdb.open_store(middle_url) as middle,
        nighdb.open_store(pg_server.url_for(tmp_path / "target")) as target,
    ):
        migrate(source, middle)
        migrate(middle, target)
        for copy in (middle, target):
            got = copy.fetch(TENANT, "docs", IDS)
            assert [i.id for i in got] == [i.id for i in expected]
            assert [i.metadata for i in got] == [i.metadata for i in expected]
            assert copy.list_ids(TENANT, "docs", limit=10) == sorted(IDS)
