"""The fast paths of ``validate_items`` accept and refuse exactly what the general checks do.

``validate_items`` takes shortcuts for the common shapes (a plain ``dict`` item, a ``str``
id, a numpy vector, flat metadata of plain scalars, a ``str`` text) and writes metadata with
one prebuilt ``json.JSONEncoder``. Each test here runs the same input twice: as given, and
disguised (read-only mapping proxies, ``str`` subclasses) so that every shortcut is missed
and the general checks decide; the outcomes must be identical, errors word for word.
"""

from __future__ import annotations

import json
import math
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nighdb import Item
from nighdb.errors import NighError
from nighdb.jsontext import encode_json
from nighdb.validation import ItemBatch, validate_items

DIMS = 3


class _Str(str):
    """A ``str`` the fast paths do not recognise (they test the exact type)."""

    __slots__ = ()


def _disguise(item: Any) -> Any:
    """The same item, shaped so that ``validate_items`` takes only its general checks."""
    if isinstance(item, Item):
        meta = item.metadata
        return Item(
            _Str(item.id) if type(item.id) is str else item.id,
            item.vector,
            MappingProxyType(meta) if type(meta) is dict else meta,
            _Str(item.text) if type(item.text) is str else item.text,
        )
    if not isinstance(item, dict):
        return item
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key in ("id", "text") and type(value) is str:
            value = _Str(value)
        elif key == "metadata" and type(value) is dict:
            value = MappingProxyType(value)
        out[key] = value
    return MappingProxyType(out)


def _outcome(items: list[Any]) -> tuple[str, Any]:
    try:
        batch = validate_items("c", DIMS, "cosine", items)
    except NighError as exc:
        return "error", (type(exc), exc.code, str(exc), vars(exc))
    return "ok", batch


def _same(items: list[Any]) -> None:
    fast_kind, fast = _outcome(items)
    slow_kind, slow = _outcome([_disguise(i) for i in items])
    assert fast_kind == slow_kind, (fast, slow)
    if fast_kind == "error":
        assert fast == slow
        return
    assert isinstance(fast, ItemBatch) and isinstance(slow, ItemBatch)
    assert fast.ids == slow.ids and all(type(i) is str for i in fast.ids)
    assert fast.vectors.dtype == np.float32
    assert fast.vectors.tobytes() == slow.vectors.tobytes()
    assert fast.metadata_json == slow.metadata_json
    assert fast.metadata == slow.metadata
    assert fast.texts == slow.texts
    for text, plain in zip(fast.metadata_json, fast.metadata, strict=True):
        assert text == json.dumps(plain, ensure_ascii=False, separators=(",", ":"))


_strings = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["", "a\x00b", "\ud800", "é", "\u2028", 'q"\\', "x" * 1025]),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, 1e300, 5e-324, 2.0**63, 0.1]),
    _strings,
)
_odd_values = st.sampled_from(
    [np.int64(3), np.float32(0.5), np.float64("nan"), _Str("s"), b"x", {1, 2}, object()]
)
_values = st.recursive(
    st.one_of(_scalars, _odd_values),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner),
        st.dictionaries(_strings, inner, max_size=3),
    ),
    max_leaves=6,
)
_keys = st.one_of(_strings, st.sampled_from([1, None, 2.5, True, ("t",)]))
_metadata = st.one_of(
    st.dictionaries(_keys, _values, max_size=4),
    st.dictionaries(_strings, _scalars, max_size=4),
    st.sampled_from([None, [], "x", 3]),
)
_vectors = st.one_of(
    st.sampled_from(
        [
            np.array([1.0, 2.0, 3.0], dtype=np.float32),
            np.array([1, 2, 3], dtype=np.int64),
            np.array([0.0, 0.0, 0.0]),
            np.array([1.0, np.nan, 0.0]),
            np.array([1e39, 1.0, 1.0]),
            np.array([1.0, 2.0]),
            np.array([[1.0, 2.0, 3.0]]),
            np.array(["a", "b", "c"]),
            np.array([True, False, True]),
            [0.5, 0.25, 1],
            (1, 2, 3),
            "abc",
            None,
        ]
    ),
    st.lists(st.floats(width=32), min_size=DIMS, max_size=DIMS),
)
_items = st.one_of(
    st.fixed_dictionaries(
        {"id": st.one_of(_strings, st.sampled_from([None, 7])), "vector": _vectors},
        optional={"metadata": _metadata, "text": st.one_of(_strings, st.sampled_from([None, 4]))},
    ),
    st.fixed_dictionaries({"vector": _vectors}),
    st.fixed_dictionaries({"id": _strings}),
    st.builds(
        Item, id=_strings, vector=_vectors, metadata=st.dictionaries(_strings, _scalars, max_size=3)
    ),
    st.sampled_from([7, "item"]),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_items, max_size=4))
def test_fast_paths_agree_with_the_general_checks(items: list[Any]) -> None:
    _same(items)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({"id": st.text(min_size=1, max_size=8)}), max_size=5))
def test_valid_batches_agree(rows: list[dict[str, Any]]) -> None:
    items = [
        {"id": r["id"], "vector": np.ones(DIMS) * (i + 1), "metadata": {"n": i, "s": r["id"]}}
        for i, r in enumerate(rows)
    ]
    _same(items)


def test_the_first_failing_item_decides_across_paths() -> None:
    good = {"id": "a", "vector": np.ones(DIMS)}
    zero = {"id": "z", "vector": np.zeros(DIMS)}  # its values fail, checked for the batch
    bad_meta = {"id": "m", "vector": np.ones(DIMS), "metadata": {"k": 2**64}}
    _same([good, zero, bad_meta])
    _same([good, bad_meta, zero])
    with pytest.raises(NighError, match="item at position 1"):
        validate_items("c", DIMS, "cosine", [good, bad_meta, zero])


def test_metadata_is_a_snapshot() -> None:
    meta: dict[str, Any] = {"k": 1}
    batch = validate_items("c", DIMS, "l2", [{"id": "a", "vector": [1, 2, 3], "metadata": meta}])
    meta["k"] = float("nan")
    assert batch.metadata == [{"k": 1}] and batch.metadata_json == ['{"k":1}']


# 300 random values: deep and wide ones are slow to generate (~50 ms each), and the encoder's
# own cases (edge numbers, escapes, every kind of value) are the parametrized test below.
@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(),
        ),
        lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)),
    )
)
def test_encoder_is_json_dumps(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert encode_json(value) == expected


@pytest.mark.parametrize(
    "value",
    [1e300, -0.0, 5e-324, 1e16, 0.1, 2**63 - 1, -(2**63), "é\u2028\ud800\x7f\x1f", {"": []}],
)
def test_encoder_edge_values(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert encode_json(value) == expected


_INVALID_METADATA = [
    {"k": math.nan},
    {"k": math.inf},
    {"k": -math.inf},
    {"k": 2**63},
    {"k": -(2**63) - 1},
    {"k": "a\x00b"},
    {"k": "\ud800"},
    {"a\x00": 1},
    {"\ud800": 1},
    {1: "x"},
    {None: "x"},
    {"k": np.float64("nan")},
    {"k": [1, {"n": math.nan}]},
    {"k": b"x"},
]
_VALID_METADATA = [
    {"k": 2**63 - 1, "m": -(2**63)},
    {"k": np.int64(5)},
    {"k": _Str("s")},
    {"k": True, "f": -0.0, "g": 1e300, "h": None, "é": "ü", "n": [1, {"x": 0.5}]},
]


@pytest.mark.parametrize(
    ("metadata", "valid"),
    [(m, False) for m in _INVALID_METADATA] + [(m, True) for m in _VALID_METADATA],
)
def test_metadata_examples(metadata: dict[Any, Any], valid: bool) -> None:
    _same([{"id": "a", "vector": np.ones(DIMS), "metadata": metadata}])
    _same([Item("a", np.ones(DIMS), metadata)])
    kind, _ = _outcome([{"id": "a", "vector": np.ones(DIMS), "metadata": metadata}])
    assert kind == ("ok" if valid else "error")


@pytest.mark.parametrize(
    ("item_id", "text"),
    [
        ("", ""),
        ("a\x00", ""),
        ("x" * 1024, ""),
        ("x" * 1025, ""),
        ("é", "é"),
        ("\ud800", ""),
        ("a", "t\x00"),
        ("a", "\ud800"),
        ("a", None),
        ("a", 5),
        (None, ""),
        (7, ""),
    ],
)
def test_id_and_text_examples(item_id: Any, text: Any) -> None:
    _same([{"id": item_id, "vector": [1, 2, 3], "text": text}])
