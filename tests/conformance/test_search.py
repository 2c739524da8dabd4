"""search and search_many (contract §1 metrics, §5, §12): exact rankings on hand-computed data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import DimensionMismatchError, InvalidArgumentError, Match

from ._helpers import BIG, TENANT, ids, make, raises

SQRT2 = math.sqrt(2.0)


def _check(got: list[Match], expected: list[tuple[str, float, float]]) -> None:
    """Ids in order exactly; distances and scores to 1e-6 (backends use float32/float64)."""
    assert ids(got) == [e[0] for e in expected]
    for match, (item_id, distance, score) in zip(got, expected, strict=True):
        assert match.distance == pytest.approx(distance, abs=1e-6), item_id
        assert match.score == pytest.approx(score, abs=1e-6), item_id
        assert isinstance(match.distance, float)
        assert isinstance(match.score, float)


# -- the three metrics ---------------------------------------------------------------------


def test_cosine_distance_and_score(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="cosine")
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "d", "vector": [-1.0, 0.0]},
            {"id": "b", "vector": [0.0, 1.0]},
            {"id": "e", "vector": [3.0, 0.0]},  # same direction as a: distance 0 too
            {"id": "c", "vector": [1.0, 1.0]},
            {"id": "a", "vector": [1.0, 0.0]},
        ],
    )
    c = 1.0 - 1.0 / SQRT2
    _check(
        store.search(TENANT, "docs", [2.0, 0.0]),
        [
            ("a", 0.0, 1.0),
            ("e", 0.0, 1.0),
            ("c", c, 1.0 - c),
            ("b", 1.0, 0.0),
            ("d", 2.0, -1.0),
        ],
    )
    # Another query: [1, 1]. a and b are exact ties (mirror images); e (= 3a) is left out
    # because 3/(3*sqrt2) and 1/sqrt2 may differ in the last bit on some backends.
    _check(
        store.search(TENANT, "docs", [1.0, 1.0], filter={"id": {"ne": "e"}}),
        [
            ("c", 0.0, 1.0),
            ("a", c, 1.0 - c),
            ("b", c, 1.0 - c),
            ("d", 1.0 + 1.0 / SQRT2, -1.0 / SQRT2),
        ],
    )


def test_cosine_distance_stays_within_0_and_2(store: nighdb.Store) -> None:
    make(store, "docs", 7)
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((50, 7)) * rng.uniform(1e-3, 1e3, (50, 1))
    store.upsert(TENANT, "docs", [{"id": f"v{n:02d}", "vector": v} for n, v in enumerate(vectors)])
    for n, v in enumerate(vectors):
        same = store.search(TENANT, "docs", v, limit=BIG)
        assert all(0.0 <= m.distance <= 2.0 for m in same)
        assert same[0].distance == pytest.approx(0.0, abs=1e-6)
        assert f"v{n:02d}" in ids([m for m in same if m.distance <= 1e-6])
        opposite = store.search(TENANT, "docs", -v, limit=BIG)
        assert all(0.0 <= m.distance <= 2.0 for m in opposite)
        assert opposite[-1].distance == pytest.approx(2.0, abs=1e-6)
        assert opposite[-1].score == pytest.approx(-1.0, abs=1e-6)


def test_l2_distance_and_score(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="l2")
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "a", "vector": [0.0, 0.0]},
            {"id": "b", "vector": [3.0, 4.0]},
            {"id": "c", "vector": [1.0, 1.0]},
            {"id": "d", "vector": [-1.0, 0.0]},
        ],
    )
    _check(
        store.search(TENANT, "docs", [0.0, 0.0]),
        [("a", 0.0, -0.0), ("d", 1.0, -1.0), ("c", SQRT2, -SQRT2), ("b", 5.0, -5.0)],
    )
    _check(
        store.search(TENANT, "docs", [1.0, 0.0]),
        [
            ("a", 1.0, -1.0),
            ("c", 1.0, -1.0),
            ("d", 2.0, -2.0),
            ("b", math.sqrt(20.0), -math.sqrt(20.0)),
        ],
    )


def test_ip_distance_and_score(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="ip")
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "a", "vector": [1.0, 2.0]},
            {"id": "b", "vector": [3.0, 0.0]},
            {"id": "c", "vector": [-1.0, -1.0]},
            {"id": "d", "vector": [0.0, 0.0]},
            {"id": "e", "vector": [10.0, 10.0]},
        ],
    )
    _check(
        store.search(TENANT, "docs", [1.0, 1.0]),
        [("e", -20.0, 20.0), ("a", -3.0, 3.0), ("b", -3.0, 3.0), ("d", 0.0, 0.0), ("c", 2.0, -2.0)],
    )
    # A zero query is a valid ip query: every distance is 0, so ids decide.
    _check(
        store.search(TENANT, "docs", [0.0, 0.0]),
        [(i, 0.0, 0.0) for i in ["a", "b", "c", "d", "e"]],
    )


def test_zero_query_is_valid_under_l2(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [2.0, 3.0, 6.0]}])
    _check(store.search(TENANT, "docs", [0.0, 0.0, 0.0]), [("x", 7.0, -7.0)])


def test_query_kinds(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [2.0, 3.0, 6.0]}])
    queries: list[Any] = [
        [0, 0, 0],
        (0.0, 0.0, 0.0),
        np.zeros(3, dtype=np.float32),
        np.zeros(3, dtype=np.float64),
    ]
    for q in queries:
        _check(store.search(TENANT, "docs", q), [("x", 7.0, -7.0)])


# -- ties, limit ---------------------------------------------------------------------------

TIED_IDS = ["b", "B", "a", "A", "_", "Z", "é", "😀", "\ufffd", "a0", "a-", "10", "9"]
# Byte (code point) order, not case-insensitive or locale order; U+1F600 after U+FFFD.
TIED_ORDER = ["10", "9", "A", "B", "Z", "_", "a", "a-", "a0", "b", "é", "\ufffd", "😀"]


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_ties_are_broken_by_id_in_byte_order(
    store: nighdb.Store, metric: str, backend: str
) -> None:
    make(store, "docs", 3, metric=metric)
    store.upsert(TENANT, "docs", [{"id": i, "vector": [1.0, 2.0, 3.0]} for i in TIED_IDS])
    store.upsert(TENANT, "docs", [{"id": "far", "vector": [-1.0, -2.0, -3.5]}])
    assert ids(store.search(TENANT, "docs", [1.0, 2.0, 3.0], limit=BIG)) == [*TIED_ORDER, "far"]
    # The limit cuts inside the tie: the first ids in byte order are kept. An approximate
    # index (the indexed variants) may find other members of the tie: still `limit` of them,
    # in id order; exact=True keeps the exact answer.
    for limit, first in [(4, TIED_ORDER[:4]), (1, ["10"])]:
        got = ids(store.search(TENANT, "docs", [1.0, 2.0, 3.0], limit=limit))
        if backend.endswith("-indexed"):
            assert len(got) == limit and got == sorted(got) and set(got) <= set(TIED_ORDER)
            got = ids(store.search(TENANT, "docs", [1.0, 2.0, 3.0], limit=limit, exact=True))
        assert got == first


def test_ties_under_a_filter_are_broken_by_id(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": i, "vector": [1.0, 1.0], "metadata": {"keep": n % 2 == 0}}
            for n, i in enumerate(TIED_IDS)
        ],
    )
    kept = sorted(i for n, i in enumerate(TIED_IDS) if n % 2 == 0)
    got = store.search(TENANT, "docs", [1.0, 1.0], limit=3, filter={"keep": True})
    assert ids(got) == kept[:3]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(0, 10), (-1, 10), (-100, 10), (1, 1), (3, 3), (15, 15), (16, 15), (BIG, 15)],
)
def test_limit(store: nighdb.Store, limit: int, expected: int) -> None:
    make(store, "docs", 2, metric="l2")
    store.upsert(
        TENANT, "docs", [{"id": f"i{n:02d}", "vector": [float(n), 0.0]} for n in range(15)]
    )
    got = store.search(TENANT, "docs", [0.0, 0.0], limit=limit)
    assert ids(got) == [f"i{n:02d}" for n in range(expected)]
    many = store.search_many(TENANT, "docs", [[0.0, 0.0], [14.0, 0.0]], limit=limit)
    assert [len(r) for r in many] == [expected, expected]


def test_default_limit_is_10(store: nighdb.Store) -> None:
    make(store, "docs", 2, metric="l2")
    store.upsert(
        TENANT, "docs", [{"id": f"i{n:02d}", "vector": [float(n), 0.0]} for n in range(15)]
    )
    assert ids(store.search(TENANT, "docs", [0.0, 0.0])) == [f"i{n:02d}" for n in range(10)]
    assert [len(r) for r in store.search_many(TENANT, "docs", [[0.0, 0.0]])] == [10]


def test_filter_applies_before_ranking(store: nighdb.Store) -> None:
    # 993 items close to the query, 7 far away; a filter selecting the far ones must still
    # return all 7 (top-min(limit, matches)), in distance order.
    dims = 8
    make(store, "docs", dims)
    rng = np.random.default_rng(3)
    near = np.zeros((993, dims))
    near[:, 0] = 1.0
    near[:, 1:] = rng.uniform(-0.05, 0.05, (993, dims - 1))
    items: list[dict[str, Any]] = [
        {"id": f"near-{n:04d}", "vector": near[n], "metadata": {"group": "near"}}
        for n in range(993)
    ]
    for k in range(1, 8):
        vector = [-1.0, 0.1 * k] + [0.0] * (dims - 2)
        items.append({"id": f"far-{k}", "vector": vector, "metadata": {"group": "far"}})
    store.upsert(TENANT, "docs", items)
    query = [1.0] + [0.0] * (dims - 1)

    def far_distance(k: int) -> float:
        return 1.0 + 1.0 / math.sqrt(1.0 + 0.01 * k * k)

    expected = [(f"far-{k}", far_distance(k), 1.0 - far_distance(k)) for k in range(7, 0, -1)]
    _check(store.search(TENANT, "docs", query, limit=10, filter={"group": "far"}), expected)
    _check(store.search(TENANT, "docs", query, limit=3, filter={"group": "far"}), expected[:3])
    _check(store.search(TENANT, "docs", query, limit=0, filter={"group": "far"}), expected)
    # Without the filter the near items win.
    unfiltered = ids(store.search(TENANT, "docs", query, limit=10))
    assert len(unfiltered) == 10
    assert all(i.startswith("near-") for i in unfiltered)
    # An id filter mixing near and far.
    mixed = store.search(TENANT, "docs", query, limit=10, filter={"id": ["far-1", "near-0000"]})
    assert ids(mixed) == ["near-0000", "far-1"]


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("query", [[1.0], [1.0, 2.0, 3.0, 4.0], [], np.ones(5)])
def test_query_of_the_wrong_length_is_a_dimension_mismatch(store: nighdb.Store, query: Any) -> None:
    make(store, "docs", 3)
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [1.0, 2.0, 3.0]}])
    with raises(DimensionMismatchError) as info:
        store.search(TENANT, "docs", query)
    assert (info.value.collection, info.value.expected, info.value.got) == ("docs", 3, len(query))
    with raises(DimensionMismatchError) as info:
        store.search_many(TENANT, "docs", [[1.0, 2.0, 3.0], query])
    assert (info.value.expected, info.value.got) == (3, len(query))


def test_search_many_numpy_of_the_wrong_width_is_a_dimension_mismatch(
    store: nighdb.Store,
) -> None:
    make(store, "docs", 3)
    with raises(DimensionMismatchError) as info:
        store.search_many(TENANT, "docs", np.ones((2, 4)))
    assert (info.value.expected, info.value.got) == (3, 4)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "query",
    [
        [NAN, 1.0, 0.0],
        [INF, 1.0, 0.0],
        [0.0, -INF, 1.0],
        [1e39, 0.0, 0.0],
        ["a", "b", "c"],
        "abc",
        None,
    ],
    ids=["nan", "inf", "-inf", "f32-overflow", "strings", "string", "none"],
)
def test_invalid_query_values(store: nighdb.Store, query: Any) -> None:
    make(store, "docs", 3, metric="l2")
    with raises(InvalidArgumentError):
        store.search(TENANT, "docs", query)
    with raises(InvalidArgumentError):
        store.search_many(TENANT, "docs", [[1.0, 2.0, 3.0], query])


def test_zero_query_is_invalid_under_cosine(store: nighdb.Store) -> None:
    make(store, "docs", 3)
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [1.0, 2.0, 3.0]}])
    with raises(InvalidArgumentError):
        store.search(TENANT, "docs", [0.0, 0.0, 0.0])
    with raises(InvalidArgumentError):
        store.search_many(TENANT, "docs", [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with raises(InvalidArgumentError):
        store.search_many(TENANT, "docs", np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))


def test_nan_in_a_numpy_batch_is_invalid(store: nighdb.Store) -> None:
    make(store, "docs", 3, metric="l2")
    with raises(InvalidArgumentError):
        store.search_many(TENANT, "docs", np.array([[1.0, 0.0, 0.0], [NAN, 0.0, 0.0]]))


# -- empty results ---------------------------------------------------------------------------


def test_empty_collection_or_no_match_returns_empty(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    assert store.search(TENANT, "docs", [1.0, 0.0]) == []
    assert store.search_many(TENANT, "docs", [[1.0, 0.0], [0.0, 1.0]]) == [[], []]
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [1.0, 0.0], "metadata": {"k": 1}}])
    assert store.search(TENANT, "docs", [1.0, 0.0], filter={"k": 2}) == []
    assert store.search_many(TENANT, "docs", [[1.0, 0.0]], filter={"k": 2}) == [[]]
    store.delete(TENANT, "docs", ["x"])
    assert store.search(TENANT, "docs", [1.0, 0.0]) == []


# -- search_many ---------------------------------------------------------------------------


def _seed_many(store: nighdb.Store) -> list[list[float]]:
    make(store, "docs", 4)
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((200, 4))
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": f"v{n:03d}", "vector": vectors[n], "metadata": {"odd": n % 2 == 1}}
            for n in range(200)
        ],
    )
    queries: list[list[float]] = rng.standard_normal((5, 4)).tolist()
    return queries


def _same(a: list[Match], b: list[Match]) -> None:
    assert ids(a) == ids(b)
    for x, y in zip(a, b, strict=True):
        assert x.distance == pytest.approx(y.distance, abs=1e-6)
        assert x.score == pytest.approx(y.score, abs=1e-6)
        assert (x.metadata, x.text) == (y.metadata, y.text)


def test_search_many_equals_individual_searches(store: nighdb.Store) -> None:
    queries = _seed_many(store)
    for flt in [None, {"odd": True}]:
        many = store.search_many(TENANT, "docs", queries, limit=7, filter=flt)
        assert len(many) == len(queries)
        for q, got in zip(queries, many, strict=True):
            assert len(got) == 7
            _same(got, store.search(TENANT, "docs", q, limit=7, filter=flt))
            if flt is not None:
                assert all(m.metadata == {"odd": True} for m in got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_search_many_accepts_a_2d_numpy_array(store: nighdb.Store, dtype: Any) -> None:
    queries = _seed_many(store)
    matrix = np.array(queries, dtype=dtype)
    many = store.search_many(TENANT, "docs", matrix, limit=5)
    assert len(many) == 5
    for q, got in zip(queries, many, strict=True):
        _same(got, store.search(TENANT, "docs", q, limit=5))
    # A list of 1-D arrays too.
    rows = store.search_many(TENANT, "docs", [row for row in matrix], limit=5)
    assert [ids(r) for r in rows] == [ids(r) for r in many]


def test_search_many_with_no_queries_returns_empty(store: nighdb.Store) -> None:
    _seed_many(store)
    assert store.search_many(TENANT, "docs", []) == []
    assert store.search_many(TENANT, "docs", np.empty((0, 4))) == []


def test_search_many_repeated_query(store: nighdb.Store) -> None:
    queries = _seed_many(store)
    many = store.search_many(TENANT, "docs", [queries[0], queries[0]], limit=3)
    assert ids(many[0]) == ids(many[1])
    assert len(many[0]) == 3


# -- what a match carries ----------------------------------------------------------------------

RICH_METADATA: dict[str, Any] = {
    "str": "hello",
    "unicode": "ünïcødé 日本語 😀",
    "empty": "",
    "int": 42,
    "neg": -7,
    "max": 2**63 - 1,
    "min": -(2**63),
    "beyond-double": 2**53 + 1,
    "float": 0.1,
    "neg-float": -2.5e-8,
    "big-float": 1.5e300,
    "true": True,
    "false": False,
    "null": None,
    "list": [1, "two", 3.5, None, True, [4], {"five": 5}],
    "empty-list": [],
    "empty-object": {},
    "nested": {"a": {"b": {"c": [1, {"d": "deep"}]}}},
    "quote'\"\\": "value with 'quotes' and \"doubles\" and \\ backslash",
    "a.b": "dotted key",
    "😀": "emoji key",
}


def test_match_returns_metadata_and_text_as_stored(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    text = "Some text\nwith lines, ünïcødé, 😀, 'quotes' and \"doubles\"\t\\"
    store.upsert(
        TENANT,
        "docs",
        [
            {"id": "rich", "vector": [1.0, 0.0], "metadata": RICH_METADATA, "text": text},
            {"id": "plain", "vector": [0.0, 1.0]},
        ],
    )
    rich, plain = store.search(TENANT, "docs", [1.0, 0.0])
    assert rich.id == "rich"
    assert rich.metadata == RICH_METADATA
    assert rich.text == text
    assert rich.metadata["max"] == 2**63 - 1 and type(rich.metadata["max"]) is int
    assert rich.metadata["min"] == -(2**63) and type(rich.metadata["min"]) is int
    assert rich.metadata["beyond-double"] == 2**53 + 1
    assert type(rich.metadata["int"]) is int
    assert type(rich.metadata["float"]) is float and rich.metadata["float"] == 0.1
    assert rich.metadata["true"] is True and rich.metadata["false"] is False
    assert (plain.id, plain.metadata, plain.text) == ("plain", {}, "")
    assert isinstance(plain.metadata, dict)
    # search_many carries the same.
    [[first, _]] = store.search_many(TENANT, "docs", [[1.0, 0.0]])
    assert (first.metadata, first.text) == (RICH_METADATA, text)


def test_returned_metadata_is_a_fresh_copy(store: nighdb.Store) -> None:
    make(store, "docs", 2)
    meta: dict[str, Any] = {"tags": ["a"], "n": 1}
    store.upsert(TENANT, "docs", [{"id": "x", "vector": [1.0, 0.0], "metadata": meta}])
    meta["tags"].append("mutated-by-caller")  # the store keeps what was upserted
    [m] = store.search(TENANT, "docs", [1.0, 0.0])
    assert m.metadata == {"tags": ["a"], "n": 1}
    m.metadata["tags"].append("mutated-result")
    [again] = store.search(TENANT, "docs", [1.0, 0.0])
    assert again.metadata == {"tags": ["a"], "n": 1}


# -- exact by default ----------------------------------------------------------------------------


def _oracle(vectors: Any, query: Any, metric: str) -> Any:
    """Brute-force distances in float64 over the float32 values a store keeps."""
    x = np.asarray(vectors, dtype=np.float32).astype(np.float64)
    q = np.asarray(query, dtype=np.float32).astype(np.float64)
    if metric == "l2":
        return np.sqrt(((x - q) ** 2).sum(axis=1))
    if metric == "ip":
        return -(x @ q)
    return 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_search_is_exact(store: nighdb.Store, metric: str, backend: str) -> None:
    # contract §5: exact by default. Every returned distance is the true one, and the list is the
    # true top-k (positions may only swap between distances equal to 1e-6). On the indexed
    # variants (tests/indexed_store.py) exact=True must give the same, ignoring the index (§15).
    exact = {"exact": True} if backend.endswith("-indexed") else {}
    n, dims, k = 3000, 32, 25
    make(store, "docs", dims, metric=metric)
    rng = np.random.default_rng(2024)
    vectors = rng.standard_normal((n, dims)) * rng.uniform(0.5, 2.0, (n, 1))
    store.upsert(
        TENANT,
        "docs",
        [{"id": f"v{i:04d}", "vector": vectors[i], "metadata": {"b": i % 7}} for i in range(n)],
    )
    queries = rng.standard_normal((4, dims))
    for flt, rows in [(None, np.arange(n)), ({"b": 3}, np.arange(3, n, 7))]:
        for query, got in zip(
            queries,
            store.search_many(TENANT, "docs", queries, limit=k, filter=flt, **exact),
            strict=True,
        ):
            truth = _oracle(vectors[rows], query, metric)
            order = np.argsort(truth, kind="stable")[:k]
            assert len(got) == k
            assert [m.distance for m in got] == pytest.approx(truth[order].tolist(), abs=1e-5)
            by_id = {f"v{rows[j]:04d}": truth[j] for j in range(len(rows))}
            for m in got:
                assert m.distance == pytest.approx(by_id[m.id], abs=1e-5)
            assert len(set(ids(got))) == k


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
@pytest.mark.parametrize("flt", [None, {"g": {"lt": 2}}, {"g": 9}])
@pytest.mark.parametrize("limit", [1, 7, 400])
def test_search_many_of_many_queries_equals_one_by_one(
    store: nighdb.Store, metric: str, flt: dict[str, Any] | None, limit: int
) -> None:
    # Enough queries and rows for every batched path (the PostgreSQL backend streams the
    # collection once for 32+ exact queries), with exact ties: each vector is stored twice.
    make(store, "docs", 6, metric=metric)
    rng = np.random.default_rng(limit)
    vectors = rng.normal(size=(150, 6)).astype(np.float32)
    items = [
        {"id": f"{prefix}{n:03d}", "vector": vectors[n], "metadata": {"g": n % 7}}
        for prefix in ("a", "b")
        for n in range(150)
    ]
    store.upsert(TENANT, "docs", items)
    queries = np.vstack([rng.normal(size=(38, 6)), vectors[:2]]).astype(np.float32)
    many = store.search_many(TENANT, "docs", queries, limit=limit, filter=flt)
    single = [store.search(TENANT, "docs", q, limit=limit, filter=flt) for q in queries]
    assert many == single
    if flt is None:
        matches = 300
    else:
        matches = 2 * sum(1 for n in range(150) if (n % 7 < 2 if flt["g"] == {"lt": 2} else False))
    assert all(len(r) == min(limit, matches) for r in many)
