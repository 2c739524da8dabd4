"""Exact round trips of ``nigh export`` and ``nigh import``: JSONL and .npy with a sidecar,
through the CLI, the library, a service and the real executable, and the shipped example
data with its metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nighdb
from nighdb import Collection
from nighdb.service import ServiceLimits
from nighdb.transfer import export_jsonl, import_records, jsonl_records

from ..cli_support import contents, nigh, run, sqlite_url
from ..service_support import InProcessService, open_in_process_store
from .conftest import AWKWARD, SOURCE_COLLECTION


@pytest.mark.parametrize("form", ["out.jsonl", "out.npy"])
def test_export_then_import_round_trips_exactly(source: str, tmp_path: Path, form: str) -> None:
    file = str(tmp_path / form)
    exported = run("export", "acme", "docs", file, "--store", source, "--batch-size", "7")
    assert exported.exit_code == 0, exported.output
    assert "exported 40 items" in exported.stderr
    target = sqlite_url(tmp_path, "target.db")
    imported = run("import", "globex", "copy", file, "--store", target)
    assert imported.exit_code == 0, imported.output
    with nighdb.open_store(source) as a, nighdb.open_store(target) as b:
        assert contents(a, "acme", "docs") == contents(b, "globex", "copy")  # bits, metadata, text
        assert b.describe_collection("globex", "copy") == Collection("copy", 8, "toy", "l2")
    if form.endswith(".npy"):
        matrix = np.load(file, mmap_mode="r")
        assert matrix.dtype == np.float32 and matrix.shape == (40, 8)
        assert matrix[0].tobytes() == AWKWARD.tobytes()
        sidecar = (tmp_path / "out.meta.jsonl").read_text().splitlines()
        assert len(sidecar) == 41  # the collection header, then one line per row
        assert json.loads(sidecar[0]) == {"collection": SOURCE_COLLECTION}


def test_jsonl_lines_are_plain_json(source: str, tmp_path: Path) -> None:
    out = run("export", "acme", "docs", "-", "--store", source)
    assert out.exit_code == 0
    header, *lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert header == {"collection": SOURCE_COLLECTION}
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines)
    assert set(lines[0]) == {"id", "vector"}  # empty metadata and text are left out
    assert set(lines[1]) == {"id", "vector", "metadata", "text"}
    assert np.array(lines[0]["vector"], dtype=np.float32).tobytes() == AWKWARD.tobytes()
    # The same lines feed an import from stdin.
    target = sqlite_url(tmp_path, "target.db")
    result = run("import", "acme", "docs", "-", "--store", target, "--json", input=out.stdout)
    assert json.loads(result.stdout) == {
        "collection": SOURCE_COLLECTION,
        "created": True,
        "imported": 40,
    }


def test_through_a_service(source: str, tmp_path: Path) -> None:
    """A remote store imports in batches and exports through the service's fetch route."""
    file = tmp_path / "out.jsonl"
    remote = open_in_process_store(sqlite_url(tmp_path, "remote.db"))
    try:
        with nighdb.open_store(source) as local:
            with file.open("w") as out:
                export_jsonl(local, "acme", "docs", out)
            with file.open("rb") as lines:
                records = jsonl_records(lines, str(file))
                import_records(remote, "acme", "docs", records, source="f")
            assert contents(local, "acme", "docs") == contents(remote, "acme", "docs")
            with file.open("w") as out:  # and back out of the service, through fetch
                assert export_jsonl(remote, "acme", "docs", out) == 40
            assert len(file.read_text().splitlines()) == 41  # the header, then the items
    finally:
        remote.close()


def test_the_service_limits_ids_per_fetch(tmp_path: Path) -> None:
    with InProcessService(sqlite_url(tmp_path), limits=ServiceLimits(max_ids=2)) as svc:
        svc.client.headers["Authorization"] = f"Bearer {svc.create_key(tenant='acme')}"
        svc.client.put("/v1/collections/docs", json={"dimensions": 1})
        ok = svc.client.post("/v1/collections/docs/fetch", json={"ids": ["a", "b"]})
        assert ok.status_code == 200 and ok.json() == {"items": []}
        over = svc.client.post("/v1/collections/docs/fetch", json={"ids": ["a", "b", "c"]})
        assert over.status_code == 413 and over.json()["error"]["code"] == "payload_too_large"


def test_the_real_executable(source: str, tmp_path: Path) -> None:
    file = str(tmp_path / "docs.npy")
    exported = nigh("--store", source, "export", "acme", "docs", file)
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.strip() == (
        f"exported 40 items of acme/docs to {file} and {tmp_path / 'docs.meta.jsonl'}"
    )
    target = sqlite_url(tmp_path, "target.db")
    imported = nigh("import", "acme", "docs", file, "--store", target, "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["imported"] == 40
    piped = nigh("export", "acme", "docs", "-", "--store", target)
    assert len(piped.stdout.splitlines()) == 41
    with nighdb.open_store(source) as a, nighdb.open_store(target) as b:
        assert contents(a, "acme", "docs") == contents(b, "acme", "docs")


DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def test_the_shipped_example_data_imports_with_its_metadata(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    vectors, sidecar = DATA / "wordnet-base.f16.npy", DATA / "wordnet-base.jsonl.gz"
    result = run(
        "import", "acme", "wordnet", str(vectors), "--sidecar", str(sidecar), "--store", url
    )
    assert result.exit_code == 0, result.output
    with nighdb.open_store(url) as store:
        assert store.count("acme", "wordnet") == 15000
        query = np.load(vectors)[0].astype(np.float32)
        verbs = store.search("acme", "wordnet", query, limit=5000, filter={"pos": "verb"})
        assert len(verbs) == 1772  # every verb: min(limit, matches)
        assert {m.metadata["pos"] for m in verbs} == {"verb"}
        item = store.fetch("acme", "wordnet", ["01239617-a"])[0]
        assert set(item.metadata) == {"pos", "lexname", "lemma", "len"} and item.text
