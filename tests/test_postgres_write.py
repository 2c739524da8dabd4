"""The pgvector backend's write path: hand-built binary formats and filter documents.

``backends.postgres.write`` builds PostgreSQL's binary array and COPY formats itself, and
``filter_document`` derives the filter column from validated metadata objects instead of
parsing their JSON. These tests pin both to what they replaced: every value (unicode, empty
strings, extreme numbers) reads back exactly through either path, and filter documents
are the ones the JSON-parsing implementation wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nighdb import Collection
from nighdb.backends.postgres import PostgresStore
from nighdb.backends.postgres import vector as postgres_vector
from nighdb.backends.postgres import write as postgres_write
from nighdb.backends.postgres.filter import filter_document, numeric_text
from nighdb.validation import validate_items

from .pg_server import postgres_store

T = "tenant"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with postgres_store(tmp_path) as s:
        yield s


def _items(n: int, dims: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)
    odd = ["", "é", "日本語", "a\u2028b", 'q"\\', "\U0001f600", "x" * 5000]
    items = []
    for i in range(n):
        word = odd[i % len(odd)]
        items.append(
            {
                "id": f"{word[:8]}{i:04d}",
                "vector": rng.normal(size=dims).astype(np.float32),
                "metadata": {
                    "i": i,
                    "f": i + 0.5,
                    "g": float(i),
                    "w": word,
                    "big": 2**63 - 1,
                    "nested": {"a": [word]},
                    "b": i % 2 == 0,
                    "z": None,
                },
                "text": word * 2,
            }
        )
    return items


@pytest.mark.parametrize("path", ["unnest", "copy"])
def test_every_value_reads_back_exactly(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    dims = 5
    store.ensure_collection(T, Collection("c", dims, metric="l2"))
    items = _items(40, dims)
    items += [dict(items[3], vector=np.ones(dims, np.float32), text="last wins")]
    if path == "copy":
        monkeypatch.setattr(postgres_write, "COPY_THRESHOLD", 0)
        monkeypatch.setattr(postgres_write, "_COPY_CHUNK", 7)  # several writes, one remainder
    assert store.upsert(T, "c", items) == 41
    expected = {item["id"]: item for item in items}  # the last occurrence wins
    got = {item.id: item for item in store.fetch(T, "c", list(expected))}
    assert got.keys() == expected.keys()
    for item_id, item in expected.items():
        vector = got[item_id].vector
        assert isinstance(vector, np.ndarray)
        assert vector.tobytes() == item["vector"].tobytes()
        assert json.dumps(got[item_id].metadata) == json.dumps(item["metadata"])
        assert got[item_id].text == item["text"]
    # The filter column: integral floats and int64 exact, strings by value, nested as {}.
    assert {m.id for m in store.search(T, "c", np.zeros(dims), limit=100, filter={"g": 7})} == {
        items[7]["id"]
    }
    hits = store.search(T, "c", np.zeros(dims), limit=100, filter={"big": 2**63 - 1})
    assert len(hits) == 40
    word = {"w": "日本語", "nested": {"exists": True}, "f": {"gt": 20.0}}
    assert {m.id for m in store.search(T, "c", np.zeros(dims), limit=100, filter=word)} == {
        i for i, item in expected.items() if item["metadata"]["w"] == "日本語" and i >= "日本語0020"
    }


def _reference_filter_document(metadata_json: str) -> str:
    """filter_document as it was: parse the JSON, rewrite as numeric_text and json.dumps."""
    doc = json.loads(metadata_json)
    if not any(isinstance(v, (float, list, dict)) for v in doc.values()):
        return metadata_json
    parts = []
    for key, value in doc.items():
        if isinstance(value, list):
            text = "[]"
        elif isinstance(value, dict):
            text = "{}"
        elif isinstance(value, float):
            text = numeric_text(value)
        else:
            text = json.dumps(value, ensure_ascii=False)
        parts.append(json.dumps(key, ensure_ascii=False) + ":" + text)
    return "{" + ",".join(parts) + "}"


_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 1e300, 2.0**60, 12.0, 0.1, 5e-324]),
    _text,
)
_metadata = st.dictionaries(
    _text,
    st.one_of(_scalars, st.lists(_scalars, max_size=2), st.dictionaries(_text, _scalars)),
    max_size=5,
)


@settings(max_examples=1000, deadline=None)
@given(_metadata)
def test_filter_document_from_objects_is_the_parsed_one(metadata: dict[str, Any]) -> None:
    batch = validate_items("c", 1, "l2", [{"id": "a", "vector": [1.0], "metadata": metadata}])
    text, plain = batch.metadata_json[0], batch.metadata[0]
    expected = _reference_filter_document(text)
    assert filter_document(text, plain) == expected
    assert filter_document(text) == expected


def test_binary_text_fields() -> None:
    values = ["", "a", "é", "\U0001f600"]
    fields = postgres_write._fields(values)
    assert fields == [
        b"\x00\x00\x00\x00",
        b"\x00\x00\x00\x01a",
        b"\x00\x00\x00\x02\xc3\xa9",
        b"\x00\x00\x00\x04\xf0\x9f\x98\x80",
    ]


def test_binary_vector_fields() -> None:
    matrix = np.array([[1.0, -2.5], [0.0, 3.0]], dtype=np.float32)
    fields = postgres_vector.binary_fields(matrix)
    assert fields.shape == (2, 4 + 4 + 8)
    first = bytes(fields[0])
    assert first[:8] == b"\x00\x00\x00\x0c\x00\x02\x00\x00"  # size 12, dims 2, unused 0
    assert np.frombuffer(first[8:], dtype=">f4").tolist() == [1.0, -2.5]
    # Without the length prefix a field is a vector_send value: decoding gives the matrix back.
    decoded = postgres_vector.from_binary([bytes(f[4:]) for f in fields], 2)
    assert decoded.dtype == np.float32
    assert decoded.tolist() == matrix.tolist()
