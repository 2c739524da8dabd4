"""Shared data and assertions for the conformance suite (no fixtures, no backend choice)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

import nighdb
from nighdb import Collection, Match

__all__ = [
    "BIG",
    "SQRT2",
    "CODES",
    "TENANT",
    "ids",
    "make",
    "matching",
    "raises",
    "snapshot",
]

TENANT = "acme"
BIG = 100_000
"""A search limit larger than any collection in the suite: the result is every match."""
SQRT2 = math.sqrt(2.0)

# The stable codes of contract §7, written out here so the suite checks them, not copies them.
CODES: dict[type[nighdb.NighError], str] = {
    nighdb.CollectionNotFoundError: "collection_not_found",
    nighdb.CollectionConflictError: "collection_conflict",
    nighdb.DimensionMismatchError: "dimension_mismatch",
    nighdb.InvalidArgumentError: "invalid_argument",
    nighdb.UnauthenticatedError: "unauthenticated",
    nighdb.PermissionDeniedError: "permission_denied",
    nighdb.StoreUnavailableError: "unavailable",
    nighdb.PayloadTooLargeError: "payload_too_large",
}

E = TypeVar("E", bound=nighdb.NighError)


@contextmanager
def raises(cls: type[E]) -> Iterator[pytest.ExceptionInfo[E]]:
    """Like ``pytest.raises`` but exact: that very class, a ``NighError``, with its code."""
    with pytest.raises(nighdb.NighError) as info:
        yield info  # type: ignore[misc]
    err = info.value
    assert type(err) is cls, f"expected {cls.__name__}, got {type(err).__name__}: {err}"
    assert err.code == CODES[cls]


def make(
    store: nighdb.Store,
    name: str = "docs",
    dims: int = 2,
    *,
    metric: str = "cosine",
    model: str = "",
    tenant: str = TENANT,
) -> Collection:
    """Create a collection and check that the pin comes back as requested."""
    pin = store.ensure_collection(tenant, Collection(name, dims, model, metric))
    assert pin == Collection(name, dims, model, metric or "cosine")
    return pin


def ids(matches: Sequence[Match]) -> list[str]:
    return [m.id for m in matches]


def _check(got: list[Match], expected: list[tuple[str, float, float]]) -> None:
    """Ids in order exactly; distances and scores to 1e-6 (backends use float32/float64)."""
    assert ids(got) == [e[0] for e in expected]
    for match, (item_id, distance, score) in zip(got, expected, strict=True):
        assert match.distance == pytest.approx(distance, abs=1e-6), item_id
        assert match.score == pytest.approx(score, abs=1e-6), item_id
        assert isinstance(match.distance, float)
        assert isinstance(match.score, float)


def matching(
    store: nighdb.Store,
    filter: Mapping[str, Any] | None,
    *,
    collection: str = "docs",
    query: Sequence[float] = (1.0, 0.0),
    tenant: str = TENANT,
) -> set[str]:
    """The set of ids a filter selects (a search with a limit larger than the collection)."""
    found = store.search(tenant, collection, list(query), limit=BIG, filter=filter)
    got = ids(found)
    assert len(got) == len(set(got)), f"duplicate ids in {got}"
    return set(got)


def snapshot(
    store: nighdb.Store,
    collection: str,
    probes: Sequence[Sequence[float]],
    *,
    tenant: str = TENANT,
) -> dict[str, tuple[tuple[float, ...], dict[str, Any], str]]:
    """Everything observable about a collection: per id, distances to probes, metadata, text."""
    per_probe = store.search_many(tenant, collection, [list(p) for p in probes], limit=BIG)
    out: dict[str, tuple[list[float], dict[str, Any], str]] = {}
    for results in per_probe:
        for m in results:
            entry = out.setdefault(m.id, ([], m.metadata, m.text))
            entry[0].append(round(m.distance, 6))
            assert entry[1] == m.metadata
            assert entry[2] == m.text
    count = store.count(tenant, collection)
    assert len(out) == count
    assert set(out) == set(store.list_ids(tenant, collection))
    return {k: (tuple(v[0]), v[1], v[2]) for k, v in out.items()}
