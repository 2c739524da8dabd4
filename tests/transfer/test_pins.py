"""The pin travels with the data: an export's collection header carries the metric and the
model, an import recreates them (search results unchanged), refuses a collection of another
pin, combines its options with the file's pin, and creates nothing from a bad header."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection
from nighdb.transfer import export_jsonl, export_npy, import_records, jsonl_records, npy_records

from ..cli_support import error_line, run, seed, sqlite_url
from .conftest import _items


def _searches(store: nighdb.Store, tenant: str, name: str) -> list[list[tuple[str, float]]]:
    """A few searches' (id, distance) lists: what a changed metric or model would change."""
    queries = np.random.default_rng(9).standard_normal((4, 8)).astype(np.float32)
    return [[(m.id, m.distance) for m in store.search(tenant, name, q, limit=10)] for q in queries]


def _export(via: str, url: str, file: Path) -> None:
    if via == "cli":
        assert run("export", "acme", "docs", str(file), "--store", url).exit_code == 0
        return
    with nighdb.open_store(url) as store:
        if file.suffix == ".npy":
            with file.open("wb") as vectors, file.with_suffix(".meta.jsonl").open("w") as meta:
                export_npy(store, "acme", "docs", vectors, meta)
        else:
            with file.open("w") as out:
                export_jsonl(store, "acme", "docs", out)


def _import(via: str, url: str, file: Path, *options: str) -> Any:
    if via == "cli":
        return run("import", "globex", "copy", str(file), "--store", url, *options)
    with nighdb.open_store(url) as store:
        if file.suffix == ".npy":
            records = npy_records(file, file.with_suffix(".meta.jsonl"))
            return import_records(store, "globex", "copy", records, source=str(file))
        with file.open("rb") as lines:
            records = jsonl_records(lines, str(file))
            return import_records(store, "globex", "copy", records, source=str(file))


@pytest.mark.parametrize("via", ["library", "cli"])
@pytest.mark.parametrize("form", ["jsonl", "npy"])
@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_export_then_import_keeps_the_pin_and_the_search_results(
    tmp_path: Path, metric: str, form: str, via: str
) -> None:
    source = sqlite_url(tmp_path, "source.db")
    with nighdb.open_store(source) as store:
        seed(store, "acme", "docs", _items(), metric=metric, model="toy-8d")
        before = _searches(store, "acme", "docs")
    file = tmp_path / f"out.{form}"
    _export(via, source, file)
    target = sqlite_url(tmp_path, "target.db")
    _import(via, target, file)
    with nighdb.open_store(target) as store:
        assert store.describe_collection("globex", "copy") == Collection(
            "copy", 8, "toy-8d", metric
        )
        assert _searches(store, "globex", "copy") == before


def _l2_export(tmp_path: Path) -> Path:
    file = tmp_path / "l2.jsonl"
    with nighdb.open_store(sqlite_url(tmp_path, "source.db")) as store:
        seed(store, "acme", "docs", _items(5), metric="l2", model="toy")
        with file.open("w") as out:
            export_jsonl(store, "acme", "docs", out)
    return file


@pytest.mark.parametrize(
    ("existing", "field"),
    [
        (Collection("copy", 8, "toy", "cosine"), "metric"),
        (Collection("copy", 8, "other", "l2"), "embedding_model"),
        (Collection("copy", 4, "toy", "l2"), "dimensions"),
    ],
)
def test_import_refuses_an_existing_collection_of_another_pin(
    tmp_path: Path, existing: Collection, field: str
) -> None:
    file = _l2_export(tmp_path)
    url = sqlite_url(tmp_path)
    with nighdb.open_store(url) as store:
        store.ensure_collection("globex", existing)
        with file.open("rb") as lines, pytest.raises(nighdb.CollectionConflictError) as info:
            import_records(store, "globex", "copy", jsonl_records(lines, "f"), source="f")
        assert info.value.field == field
        assert store.count("globex", "copy") == 0  # nothing written
    result = run("import", "globex", "copy", str(file), "--store", url)
    assert result.exit_code == 1
    assert error_line(result.stderr).startswith("error: collection_conflict: ")
    # A compatible one (an empty model there means "don't care" only on the request side).
    with nighdb.open_store(url) as store:
        store.ensure_collection("globex", Collection("fine", 8, "toy", "l2"))
    assert run("import", "globex", "fine", str(file), "--store", url).exit_code == 0


def test_import_options_combine_with_the_files_pin(tmp_path: Path) -> None:
    file = _l2_export(tmp_path)
    url = sqlite_url(tmp_path)
    for options in (["--metric", "cosine"], ["--model", "other"]):
        clash = run("import", "t", "c", str(file), "--store", url, *options)
        assert clash.exit_code == 1, clash.output
        line = error_line(clash.stderr)
        assert line.startswith(f"error: invalid_argument: the collection header ({file} line 1)")
        assert "but the request names" in line
    with nighdb.open_store(url) as store:
        assert store.list_collections("t") == []  # a contradiction creates nothing
    same = run("import", "t", "c", str(file), "--store", url, "--metric", "l2", "--model", "toy")
    assert same.exit_code == 0 and "created: 8 dimensions, l2" in same.stderr
    # A header naming no model (an old export, or a hand-written file) takes --model.
    lines = file.read_text().splitlines()
    header = json.loads(lines[0])
    header["collection"]["embedding_model"] = ""
    file.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    assert run("import", "t", "d", str(file), "--store", url, "--model", "mine").exit_code == 0
    # And a file without a header imports as before: cosine unless --metric says otherwise.
    file.write_text("\n".join(lines[1:]) + "\n")
    assert run("import", "t", "e", str(file), "--store", url).exit_code == 0
    with nighdb.open_store(url) as store:
        assert store.describe_collection("t", "d") == Collection("d", 8, "mine", "l2")
        assert store.describe_collection("t", "e") == Collection("e", 8, "", "cosine")


def test_an_empty_collection_round_trips_with_its_pin(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    with nighdb.open_store(url) as store:
        store.ensure_collection("acme", Collection("empty", 5, "m", "ip"))
    file = tmp_path / "empty.jsonl"
    assert run("export", "acme", "empty", str(file), "--store", url).exit_code == 0
    result = run("import", "globex", "empty", str(file), "--store", url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] is True
    with nighdb.open_store(url) as store:
        assert store.describe_collection("globex", "empty") == Collection("empty", 5, "m", "ip")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "vector": [1]}', '{"collection": {"dimensions": 1}}'], "first line only"),
        (['{"collection": {"dimensions": 1}, "x": 1}'], "alone on the first line"),
        (['{"collection": {"dims": 1}}'], "unknown field 'dims' in the collection header"),
        (['{"collection": {"metric": "dot"}}'], "metric"),
        (['{"collection": {"dimensions": 2}}', '{"id": "a", "vector": [1]}'], "line 2"),
        (['{"id": "a", "vector": [1], "metric": "l2"}', '{"id": "b", "vector": [1]}'], ""),
    ],
)
def test_a_bad_header_creates_nothing(tmp_path: Path, lines: list[str], message: str) -> None:
    url = sqlite_url(tmp_path)
    file = tmp_path / "in.jsonl"
    file.write_text("\n".join(lines) + "\n")
    result = run("import", "t", "c", str(file), "--store", url, "--metric", "cosine")
    assert result.exit_code == 1, result.output
    assert message in error_line(result.stderr)
    with nighdb.open_store(url) as store:
        assert store.list_collections("t") == []
