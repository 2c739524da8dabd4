"""Hostile input through the library (issue 7): property-based fuzzing on SQLite and Postgres.

Every case ends in a coded ``NighError`` (``invalid_argument`` or ``dimension_mismatch``
for input problems: never ``unavailable``, which would be a driver error in disguise) or in
a correct result; never an uncoded exception. Nothing invalid is stored: a refused upsert
leaves the count unchanged, and an accepted one reads back exactly as given (finite float32
vector, the same metadata and text).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nighdb
from nighdb import Collection
from nighdb.filters import MAX_FILTER_DEPTH
from nighdb.validation import MAX_METADATA_DEPTH

from .. import pg_server
from ..reference_filter import matches, valid
from . import _hostile as h
from .conftest import Figures, soak_mode

INPUT_CODES = {"invalid_argument", "dimension_mismatch"}
DIMS = 3
_names = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[nighdb.Store]:
    if request.param == "postgres":
        url = pg_server.url_for(tmp_path_factory.mktemp("fuzz-pg"))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    with nighdb.open_store(url) as store:
        yield store


def examples(config: pytest.Config, short: int, long: int) -> settings:
    return settings(
        max_examples=long if soak_mode(config) else short,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=not soak_mode(config),  # make test: the same cases on every run
        database=None,
    )


def coded(err: BaseException) -> str:
    assert isinstance(err, nighdb.NighError), f"uncoded {type(err).__name__}: {err!r}"
    return err.code


def _json_equal(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_hostile_items(
    fuzz_store: nighdb.Store, pytestconfig: pytest.Config, figures: Figures
) -> None:
    store = fuzz_store
    name = f"items-{next(_names)}"
    store.ensure_collection("fuzz", Collection(name, DIMS))
    outcomes: dict[str, int] = {}

    fields = ["id", "vector", "metadata", "text"]

    @examples(pytestconfig, 150, 3000)
    @given(
        st.fixed_dictionaries(
            {
                "id": h.benign_text,
                "vector": st.lists(st.integers(1, 9).map(float), min_size=DIMS, max_size=DIMS),
                "metadata": st.dictionaries(h.benign_text, h.benign_json, max_size=3),
                "text": h.benign_text,
            }
        ),
        st.fixed_dictionaries(
            {"id": h.ids, "vector": h.vectors, "metadata": h.metadata, "text": h.ids}
        ),
        st.sets(st.sampled_from(fields)),
        st.booleans(),
    )
    def case(
        base: dict[str, Any], hostile: dict[str, Any], replaced: set[str], as_array: bool
    ) -> None:
        # A valid item with some of its fields (maybe none, maybe all) made hostile.
        item = {f: hostile[f] if f in replaced else base[f] for f in fields}
        item_id, vector, metadata, text = (item[f] for f in fields)
        if as_array and isinstance(vector, list) and all(isinstance(x, float) for x in vector):
            vector = item["vector"] = np.asarray(vector, dtype=np.float64)
        before = store.count("fuzz", name)
        try:
            store.upsert("fuzz", name, [item])
        except Exception as err:
            code = coded(err)
            assert code in INPUT_CODES, (code, err)
            outcomes[code] = outcomes.get(code, 0) + 1
            assert store.count("fuzz", name) == before  # nothing written
            return
        outcomes["stored"] = outcomes.get("stored", 0) + 1
        [got] = store.fetch("fuzz", name, [item_id])
        assert got.id == item_id
        assert isinstance(got.vector, np.ndarray) and got.vector.dtype == np.float32
        assert np.isfinite(got.vector).all(), got.vector
        assert np.array_equal(got.vector, np.asarray(vector, dtype=np.float32))
        # None is "absent" for the optional fields: metadata {} and text "" (contract §4).
        assert _json_equal(got.metadata, {} if metadata is None else metadata), got.metadata
        assert got.text == ("" if text is None else text)
        assert store.delete("fuzz", name, [item_id]) == 1

    case()
    figures.add("cases", sum(outcomes.values()))
    for key, value in outcomes.items():
        figures.add(key, value)
    assert outcomes.get("stored", 0) > 0 and outcomes.get("invalid_argument", 0) > 0


def test_hostile_names_and_pins(
    fuzz_store: nighdb.Store, pytestconfig: pytest.Config, figures: Figures
) -> None:
    store = fuzz_store
    outcomes: dict[str, int] = {}

    parts = ["tenant", "name", "dims", "model", "metric"]

    @examples(pytestconfig, 100, 2000)
    @given(
        st.fixed_dictionaries(
            {
                "tenant": h.benign_text,
                "name": h.benign_text,
                "dims": st.integers(1, 20),
                "model": h.benign_text | st.just(""),
                "metric": st.sampled_from(["", "cosine", "l2", "ip"]),
            }
        ),
        st.fixed_dictionaries(
            {
                "tenant": h.ids,
                "name": h.ids,
                "dims": st.one_of(
                    st.integers(-5, 0), h.wrong_types, st.sampled_from([16_000, 16_001, 2**64])
                ),
                "model": h.ids,
                "metric": st.sampled_from(["L2", "dot", "cosine "]) | h.wrong_types,
            }
        ),
        st.sets(st.sampled_from(parts)),
    )
    def case(base: dict[str, Any], hostile: dict[str, Any], replaced: set[str]) -> None:
        tenant, name, dims, model, metric = (
            hostile[p] if p in replaced else base[p] for p in parts
        )
        try:
            pin = store.ensure_collection(tenant, Collection(name, dims, model, metric))
        except Exception as err:
            code = coded(err)
            assert code in INPUT_CODES | {"collection_conflict"}, (code, err)
            outcomes[code] = outcomes.get(code, 0) + 1
            if code == "invalid_argument" and isinstance(tenant, str) and isinstance(name, str):
                with contextlib.suppress(nighdb.InvalidArgumentError):  # the tenant itself
                    assert name not in [c.name for c in store.list_collections(tenant)]
            return
        outcomes["created"] = outcomes.get("created", 0) + 1
        assert pin.name == name and pin.dimensions == dims
        assert store.describe_collection(tenant, name) == pin
        assert pin in store.list_collections(tenant)
        assert store.count(tenant, name) == 0
        assert store.drop_collection(tenant, name) == 0
        assert store.describe_collection(tenant, name) is None

    case()
    figures.add("cases", sum(outcomes.values()))
    for key, value in outcomes.items():
        figures.add(key, value)
    assert outcomes.get("created", 0) > 0


SEED: list[tuple[str, list[float], dict[str, Any]]] = [
    ("a", [1.0, 0.0, 0.0], {"kind": "x", "n": 1, "b": True}),
    ("b", [0.0, 1.0, 0.0], {"kind": "y", "n": 2.5, "tags": ["x"]}),
    ("c", [0.0, 0.0, 1.0], {"kind": None, "n": -(2**63), "nested": {"kind": "x"}}),
    ("'; DROP TABLE x; --", [1.0, 1.0, 0.0], {"kind": "'; DROP TABLE x; --", "$and": 1}),
    ("é", [1.0, 0.0, 1.0], {"kind": "e\u0301", "n": 1e308, "b": "true"}),
]


def test_hostile_filters_and_queries(
    fuzz_store: nighdb.Store, pytestconfig: pytest.Config, figures: Figures
) -> None:
    store = fuzz_store
    name = f"filters-{next(_names)}"
    store.ensure_collection("fuzz", Collection(name, DIMS, "", "l2"))
    store.upsert("fuzz", name, [{"id": i, "vector": v, "metadata": m} for i, v, m in SEED])
    outcomes: dict[str, int] = {}

    @examples(pytestconfig, 200, 4000)
    @given(
        h.benign_filters | h.filters | st.none(),
        st.one_of(st.just([1.0, 0.0, 0.0]), h.vectors),
        st.one_of(st.just(10), h.numbers, h.wrong_types),
    )
    def case(filter_: Any, query: Any, limit: Any) -> None:
        try:
            found = store.search("fuzz", name, query, limit=limit, filter=filter_)
        except Exception as err:
            code = coded(err)
            assert code in INPUT_CODES, (code, err)
            outcomes[code] = outcomes.get(code, 0) + 1
            return
        outcomes["answered"] = outcomes.get("answered", 0) + 1
        # A correct result: a valid filter (by an independent reading of contract §6), only
        # matching items, and every matching item when the limit allows.
        assert filter_ is None or valid(filter_), filter_
        expected = {i for i, _, m in SEED if matches(filter_, i, m)}
        got = [m.id for m in found]
        assert len(got) == len(set(got)) and set(got) <= expected, (filter_, got, expected)
        effective = 10 if limit <= 0 else limit
        assert len(got) == min(effective, len(expected))
        assert all(math.isfinite(m.distance) for m in found)

    case()
    figures.add("cases", sum(outcomes.values()))
    for key, value in outcomes.items():
        figures.add(key, value)
    assert store.count("fuzz", name) == len(SEED)  # reads never write
    assert outcomes.get("answered", 0) > 0 and outcomes.get("invalid_argument", 0) > 0


@pytest.mark.parametrize("depth", [100, 1000, 50_000])
def test_deeply_nested_metadata_and_filters(fuzz_store: nighdb.Store, depth: int) -> None:
    """Past the bounds (metadata 64 levels, filters 32) is ``invalid_argument``, nothing stored."""
    store = fuzz_store
    name = f"deep-{next(_names)}"
    store.ensure_collection("fuzz", Collection(name, DIMS))
    for bad in (h.deep(depth), h.deep(depth, as_list=True)):
        item = {"id": "d", "vector": [1.0, 0.0, 0.0], "metadata": {"m": bad}}
        with pytest.raises(nighdb.NighError) as info:
            store.upsert("fuzz", name, [item])
        assert coded(info.value) == "invalid_argument"
        assert store.count("fuzz", name) == 0
    with pytest.raises(nighdb.NighError) as info:
        store.search("fuzz", name, [1.0, 0.0, 0.0], filter=h.deep_not(depth))
    assert coded(info.value) == "invalid_argument"


def test_nesting_bounds_are_exact(fuzz_store: nighdb.Store) -> None:
    """The deepest metadata and filter allowed are accepted; one level more is refused.

    Metadata levels count the metadata object itself and the innermost value: ``{"m": 1}``
    is two levels deep. Filter levels count nested filter objects: ``{"k": 1}`` is one.
    """
    store = fuzz_store
    name = f"bounds-{next(_names)}"
    store.ensure_collection("fuzz", Collection(name, DIMS))
    wrappers = MAX_METADATA_DEPTH - 2  # the metadata object and the leaf take two levels
    for as_list in (False, True):
        deepest = {"m": h.deep(wrappers, as_list=as_list)}
        store.upsert("fuzz", name, [{"id": "d", "vector": [1.0, 0.0, 0.0], "metadata": deepest}])
        [got] = store.fetch("fuzz", name, ["d"])
        assert _json_equal(got.metadata, deepest)
        too_deep = {"m": h.deep(wrappers + 1, as_list=as_list)}
        with pytest.raises(nighdb.InvalidArgumentError, match="nests deeper than 64 levels"):
            store.upsert(
                "fuzz", name, [{"id": "e", "vector": [1.0, 0.0, 0.0], "metadata": too_deep}]
            )
        assert store.list_ids("fuzz", name) == ["d"]
    deepest_filter = h.deep_not(MAX_FILTER_DEPTH - 1)  # a $not per level, the leaf in the last
    found = store.search("fuzz", name, [1.0, 0.0, 0.0], filter=deepest_filter)
    assert [m.id for m in found] == ["d"]  # an odd number of $not around a missing key
    with pytest.raises(nighdb.InvalidArgumentError, match="nests deeper than 32 levels"):
        store.search("fuzz", name, [1.0, 0.0, 0.0], filter=h.deep_not(MAX_FILTER_DEPTH))


@pytest.mark.parametrize("limit", [2**31, 2**63 - 1, 2**63, 2**64, 10**30])
def test_a_huge_limit_means_every_match(fuzz_store: nighdb.Store, limit: int) -> None:
    """Found by the soak fuzzing: PostgreSQL answered a limit past bigint with an 'internal'
    error (22003) instead of min(limit, matches) results (contract §5)."""
    store = fuzz_store
    name = f"limit-{next(_names)}"
    store.ensure_collection("fuzz", Collection(name, DIMS, "", "l2"))
    store.upsert("fuzz", name, [{"id": i, "vector": v, "metadata": m} for i, v, m in SEED])
    found = store.search("fuzz", name, [1.0, 0.0, 0.0], limit=limit)
    assert len(found) == len(SEED)
    many = store.search_many("fuzz", name, [[1.0, 0.0, 0.0]] * 2, limit=limit, filter={"n": 1})
    assert [[m.id for m in row] for row in many] == [["a"], ["a"]]
