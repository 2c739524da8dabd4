"""Property tests of the operations by filter (contract §13) against ``reference_filter``,
on every backend: random metadata and filters (the strategies of ``test_filter_property``).

* ``count(filter=f)`` equals the reference count;
* ``list_ids(filter=f)`` is the reference set, and paged it comes in byte order;
* ``scroll`` pages of a random size, concatenated, are the reference set in id order;
* ``delete(filter=f)`` removes exactly the reference set and returns its size.

``NIGH_OPS_PROPERTY_EXAMPLES`` scales it (default 15 per backend, so ``make test`` stays fast).
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nighdb
from nighdb import Collection

from .reference_filter import matches
from .test_filter_property import DIMS, IDS, VECTORS, cases

TENANT = "ops"
EXAMPLES = int(os.environ.get("NIGH_OPS_PROPERTY_EXAMPLES", "15"))

_collections = itertools.count()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=cases(), page=st.integers(1, 17))
def test_operations_by_filter_select_what_the_reference_selects(
    store: nighdb.Store, case: tuple[list[dict[str, Any]], list[dict[str, Any]]], page: int
) -> None:
    metas, specs = case
    name = f"ops{next(_collections)}"
    store.ensure_collection(TENANT, Collection(name, DIMS))
    try:
        store.upsert(
            TENANT,
            name,
            [
                {"id": IDS[i], "vector": VECTORS[i].tolist(), "metadata": meta}
                for i, meta in enumerate(metas)
            ],
        )
        stored = dict(zip(IDS, metas, strict=False))
        for f in specs:
            expected = sorted(i for i, meta in stored.items() if matches(f, i, meta))
            assert store.count(TENANT, name, filter=f) == len(expected), f
            assert sorted(store.list_ids(TENANT, name, filter=f)) == expected, f
            paged: list[str] = []
            while ids := store.list_ids(
                TENANT, name, filter=f, after=paged[-1] if paged else None, limit=page
            ):
                assert len(ids) <= page
                paged += ids
            assert paged == expected, f
            scrolled: list[str] = []
            while items := store.scroll(
                TENANT, name, filter=f, after=scrolled[-1] if scrolled else None, limit=page
            ):
                assert len(items) <= page
                scrolled += [i.id for i in items]
                for item in items:
                    assert item.metadata == stored[item.id]
            assert scrolled == expected, f
        # Delete by the first filter: exactly the reference set goes, and its size is returned.
        f = specs[0]
        doomed = {i for i, meta in stored.items() if matches(f, i, meta)}
        assert store.delete(TENANT, name, filter=f) == len(doomed), f
        assert sorted(store.list_ids(TENANT, name)) == sorted(set(stored) - doomed), f
        assert store.count(TENANT, name, filter=f) == 0, f
    finally:
        store.drop_collection(TENANT, name)
