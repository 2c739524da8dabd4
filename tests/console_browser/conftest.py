"""The console browser tests' site and browser: a real ``nigh serve`` on loopback over a
SQLite store seeded with three clusters of points and two tenants' keys, and one headless
Chromium, each started once per test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

import nighdb
from nighdb import Collection

from ..browser import Browser
from ..harness import ServeNode
from ..service_support import create_key

DIMS = 16


COLOURS = ("red", "green", "blue")


PER_COLOUR = 100


ODD = "../odd name/ü?#%2F"


@dataclass(frozen=True)
class Site:
    url: str
    store: str
    acme: str
    admin: str
    vectors: dict[str, list[float]]


def _points() -> tuple[list[dict[str, object]], dict[str, list[float]]]:
    """Three clusters, one per colour, far apart along their own axes."""
    rng = np.random.default_rng(19)
    items: list[dict[str, object]] = []
    for c, colour in enumerate(COLOURS):
        centre = np.zeros(DIMS)
        centre[c] = 10.0
        for i in range(PER_COLOUR):
            n = c * PER_COLOUR + i
            vector = centre + rng.normal(0, 0.5, DIMS)
            items.append(
                {
                    "id": f"p{n:03d}",
                    "vector": vector.tolist(),
                    "metadata": {"colour": colour, "n": n},
                    "text": f"point {n} of the {colour} cluster",
                }
            )
    return items, {str(i["id"]): list(i["vector"]) for i in items}  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'store.db'}"
    items, vectors = _points()
    with nighdb.open_store(url) as store:
        store.ensure_collection("acme", Collection("points", dimensions=DIMS, metric="l2"))
        store.upsert("acme", "points", items)
        store.ensure_collection("globex", Collection("secret-plans", dimensions=2))
        store.upsert("globex", "secret-plans", [{"id": "plan-x", "vector": [1.0, 0.0]}])
        # A name that is not a path: the page must send it as one segment.
        store.ensure_collection("globex", Collection(ODD, dimensions=2))
        store.upsert("globex", ODD, [{"id": "a/b?c#d", "vector": [0.0, 1.0]}])
        acme, admin = create_key(store, tenant="acme"), create_key(store)
    with ServeNode.nigh_serve(url) as node:
        yield Site(node.url, url, acme, admin, vectors)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b
