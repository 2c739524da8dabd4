"""What a match carries (contract §5): metadata of every JSON type and text exactly as
stored, from search and search_many, and a fresh copy each time."""

from __future__ import annotations

from typing import Any

import nighdb

from ._helpers import TENANT, make

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
