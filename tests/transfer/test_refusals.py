"""What an import creates and what it refuses: the collection made from the first vector,
nothing created by an empty or bad input, a bad line later stopping the import with its
number, the .npy input and its sidecar checked before writing, usage errors, and one rule
for unknown top-level fields shared with ``nigh apply``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nighdb
from nighdb import Collection

from ..cli_support import error_line, run, sqlite_url


def test_import_creates_from_the_first_vector_and_keeps_existing_pins(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    file = tmp_path / "in.jsonl"
    file.write_text('{"id": "a", "vector": [1, 2, 3]}\n\n{"id": "b", "vector": [0, 0, 1]}\n')
    made = run("import", "t", "c", str(file), "--model", "m", "--metric", "ip", "--store", url)
    assert made.exit_code == 0 and "created: 3 dimensions, ip" in made.stderr
    again = run("import", "t", "c", str(file), "--store", url)  # idempotent, pin kept
    assert again.exit_code == 0 and "created" not in again.stderr
    conflict = run("import", "t", "c", str(file), "--metric", "l2", "--store", url)
    assert conflict.exit_code == 1
    assert error_line(conflict.stderr).startswith("error: collection_conflict: ")
    with nighdb.open_store(url) as store:
        assert store.describe_collection("t", "c") == Collection("c", 3, "m", "ip")
        assert store.count("t", "c") == 2


def test_an_empty_input_creates_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    file = tmp_path / "empty.jsonl"
    file.write_text("\n")
    result = run("import", "t", "c", str(file), "--store", url)
    assert result.exit_code == 0 and "not created" in result.stderr
    with nighdb.open_store(url) as store:
        assert store.list_tenants() == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{nope", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"id": "x", "vector": [1, NaN]}', "NaN is not JSON"),
        ('{"vector": [1, 2]}', "needs an 'id'"),
        ('{"id": "x"}', "needs a 'vector'"),
        ('{"id": "x", "vector": []}', "empty vector"),
        ('{"id": "x", "vector": [0, 0]}', "zero vector"),
        ('{"id": "", "vector": [1, 2]}', "must not be empty"),
        ('{"id": "x", "vector": [1, 2], "metadata": {"k": 1e999}}', "non-finite"),
        ('{"id": "x", "vector": [1, 2], "text": 5}', "must be a string"),
    ],
)
def test_a_bad_first_line_creates_nothing(tmp_path: Path, line: str, message: str) -> None:
    url = sqlite_url(tmp_path)
    file = tmp_path / "bad.jsonl"
    file.write_text("\n" + line + '\n{"id": "ok", "vector": [1, 2]}\n')
    result = run("import", "t", "c", str(file), "--store", url)
    assert result.exit_code == 1
    err = error_line(result.stderr)
    assert err.startswith("error: invalid_argument: ") and f"{file} line 2" in err
    assert message in err
    with nighdb.open_store(url) as store:
        assert store.describe_collection("t", "c") is None


def test_a_bad_line_later_stops_the_import_and_a_rerun_finishes_it(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    file = tmp_path / "in.jsonl"
    lines = [{"id": f"i{n}", "vector": [1.0, float(n)]} for n in range(10)]
    bad = [*lines[:7], {"id": "i7", "vector": [1.0, 2.0, 3.0]}, *lines[8:]]
    file.write_text("".join(json.dumps(x) + "\n" for x in bad))
    result = run("import", "t", "c", str(file), "--batch-size", "3", "--store", url)
    assert result.exit_code == 1
    err = error_line(result.stderr)
    assert err.startswith("error: dimension_mismatch: ") and f"{file} line 8" in err
    assert "the 6 items before it were imported" in err
    with nighdb.open_store(url) as store:
        assert sorted(store.list_ids("t", "c")) == [f"i{n}" for n in range(6)]
    file.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert run("import", "t", "c", str(file), "--batch-size", "3", "--store", url).exit_code == 0
    with nighdb.open_store(url) as store:
        assert store.count("t", "c") == 10  # no duplicates: upserts replace by id


def test_export_of_a_missing_collection_writes_no_file(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    nighdb.open_store(url).close()  # the store exists; the collection does not
    for name in ("out.jsonl", "out.npy"):
        result = run("export", "acme", "nope", str(tmp_path / name), "--store", url)
        assert result.exit_code == 1
        assert error_line(result.stderr).startswith("error: collection_not_found: ")
    assert [p.name for p in tmp_path.iterdir() if "out" in p.name] == []


def test_npy_import_checks_its_sidecar_before_writing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    vectors = tmp_path / "v.npy"
    np.save(vectors, np.eye(3, dtype=np.float64))  # any float dtype; stored as float32
    meta = tmp_path / "meta.jsonl"
    meta.write_text('{"id": "a"}\n{"id": "b"}\n')
    short = run("import", "t", "c", str(vectors), "--sidecar", str(meta), "--store", url)
    assert short.exit_code == 1 and "has 2 items but" in short.stderr
    meta.write_text('{"id": "a"}\n{"id": "b", "vector": [1, 2, 3]}\n{"id": "c"}\n')
    with_vector = run("import", "t", "c", str(vectors), "--sidecar", str(meta), "--store", url)
    assert with_vector.exit_code == 1 and "line 2: the sidecar holds" in with_vector.stderr
    default_sidecar = run("import", "t", "c", str(vectors), "--store", url)
    assert default_sidecar.exit_code == 1 and "v.meta.jsonl: cannot read" in default_sidecar.stderr
    with nighdb.open_store(url) as store:
        assert store.list_tenants() == []
    meta.write_text('{"id": "a"}\n{"id": "b", "text": "B"}\n{"id": "c", "metadata": {"k": 1}}\n')
    ok = run("import", "t", "c", str(vectors), "--sidecar", str(meta), "--store", url)
    assert ok.exit_code == 0, ok.output
    with nighdb.open_store(url) as store:
        got = {i.id: i for i in store.fetch("t", "c", ["a", "b", "c"])}
        assert np.asarray(got["c"].vector).tolist() == [0.0, 0.0, 1.0]
        assert (got["b"].text, got["c"].metadata) == ("B", {"k": 1})


@pytest.mark.parametrize("content", [b"not numpy", None], ids=["not-npy", "3-d"])
def test_npy_input_must_be_a_matrix(tmp_path: Path, content: bytes | None) -> None:
    vectors = tmp_path / "v.npy"
    if content is None:
        np.save(vectors, np.zeros((2, 2, 2), dtype=np.float32))
    else:
        vectors.write_bytes(content)
    (tmp_path / "v.meta.jsonl").write_text('{"id": "a"}\n{"id": "b"}\n')
    result = run("import", "t", "c", str(vectors), "--store", sqlite_url(tmp_path))
    assert result.exit_code == 1
    assert error_line(result.stderr).startswith("error: invalid_argument: ")


def test_usage_errors(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert run("import", "t", "c", str(tmp_path / "missing.jsonl"), "--store", url).exit_code == 1
    sidecar = run("import", "t", "c", "x.jsonl", "--sidecar", "y.jsonl", "--store", url)
    assert sidecar.exit_code == 1 and "--sidecar" in sidecar.stderr
    assert run("import", "t", "c", "x.jsonl", "--metric", "dot", "--store", url).exit_code == 1


def test_an_unknown_top_level_field_is_refused_alike_by_import_and_apply(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    line = '{"id": "a", "vector": [1, 0], "pos": "noun"}\n'
    file = tmp_path / "docs.jsonl"
    file.write_text('{"id": "z", "vector": [0, 1]}\n' + line)
    imported = run("import", "acme", "docs", str(file), "--store", url)
    applied = run("apply", "acme", str(file), "--store", url)
    expected = (
        f"error: invalid_argument: {file} line 2: unknown field 'pos'; a line has id, vector, "
        "metadata (an object: put filterable fields there), text, model and metric"
    )
    assert imported.exit_code == applied.exit_code == 1
    assert error_line(imported.stderr) == error_line(applied.stderr) == expected
    with nighdb.open_store(url) as store:
        assert store.list_collections("acme") == []  # neither wrote anything
