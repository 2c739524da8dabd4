"""Contract §13: a concurrent ``update`` and ``upsert`` of one id end in one of the two
orders, never a mix (say the upsert's vector under the update's merge of the old metadata).

Two threads race on one id, released together by a barrier, many rounds; after each round
the stored item must be exactly what one order or the other produces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import nighdb

from ._helpers import TENANT, make

ROUNDS = 25


def _race(first: Callable[[], object], second: Callable[[], object]) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            call()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _state(item: nighdb.Item) -> tuple[list[float], dict[str, Any], str]:
    return (np.asarray(item.vector).tolist(), dict(item.metadata), item.text)


def test_update_and_upsert_of_one_id_serialise(store_factory: Callable[[], nighdb.Store]) -> None:
    # Two stores on one database: each thread has its own (a store's calls from two threads
    # are also allowed, but two stores are two connections on every backend).
    a, b = store_factory(), store_factory()
    make(a, "docs", 2)
    for r in range(ROUNDS):
        a.upsert(
            TENANT, "docs", [{"id": "x", "vector": [1.0, 0.0], "metadata": {"old": r}, "text": "t"}]
        )
        patch = {"id": "x", "vector": [0.0, 1.0], "metadata_patch": {"patched": r}}
        item = {"id": "x", "vector": [1.0, 1.0], "metadata": {"new": r}, "text": "u"}
        _race(partial(a.update, TENANT, "docs", [patch]), partial(b.upsert, TENANT, "docs", [item]))
        (got,) = a.fetch(TENANT, "docs", ["x"])
        update_then_upsert = ([1.0, 1.0], {"new": r}, "u")
        upsert_then_update = ([0.0, 1.0], {"new": r, "patched": r}, "u")
        assert _state(got) in (update_then_upsert, upsert_then_update), (r, _state(got))
