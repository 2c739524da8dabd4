"""``nigh import|export`` and ``nighdb.transfer``: exact round trips (JSONL and .npy with a
sidecar), streaming in bounded memory, collection creation, refusals naming the line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection, Item
from nighdb.service import ServiceLimits
from nighdb.transfer import (
    Record,
    export_jsonl,
    export_npy,
    import_records,
    jsonl_records,
    npy_records,
)

from .cli_support import contents, error_line, nigh, run, seed, sqlite_url
from .service_support import InProcessService, open_in_process_store

# float32 values whose decimal forms are treacherous: subnormals, -0.0, extremes, 1/3.
AWKWARD = np.array(
    [0.1, -0.0, 1e-45, 3.4028235e38, -1.1754944e-38, 1 / 3, 16777217.0, 0.7], dtype=np.float32
)


def _items(n: int = 40, dims: int = len(AWKWARD)) -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    out: list[dict[str, Any]] = []
    for i in range(n):
        vector = AWKWARD if i == 0 else rng.standard_normal(dims).astype(np.float32)
        item: dict[str, Any] = {"id": f"item {i:03d} ✓", "vector": vector}
        if i % 2:
            item["metadata"] = {"i": i, "big": 2**63 - 1, "f": i / 7, "one": 1.0, "ok": True}
            item["metadata"] |= {"nested": {"list": [1, "x", None]}, "ü": "ß"}
        if i % 3:
            item["text"] = f'text {i} 🎯 "quoted"\nnewline'
        out.append(item)
    return out


# The collection ``source`` seeds, as an export's header and an import's report give it.
SOURCE_COLLECTION = {
    "name": "docs",
    "dimensions": 8,
    "embedding_model": "toy",
    "metric": "l2",
    "text_analyzer": "plain",
}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path, "source.db")
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", _items(), metric="l2", model="toy")
    yield url


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


class _Recorder:
    """A store wrapper that records the calls the streaming code makes."""

    def __init__(self, store: nighdb.Store, consumed: list[int] | None = None) -> None:
        self.store = store
        self.consumed = consumed
        self.in_flight: list[int] = []
        self.fetched: list[int] = []
        self.batches: list[int] = []
        self.upserted = 0

    def upsert(self, tenant: str, collection: str, items: Sequence[Any]) -> int:
        if self.consumed is not None:  # read from the input but not yet written
            self.in_flight.append(self.consumed[0] - self.upserted)
        self.upserted += len(items)
        self.batches.append(len(items))
        return self.store.upsert(tenant, collection, items)

    def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        self.fetched.append(len(ids))
        return self.store.fetch(tenant, collection, ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_import_streams_one_batch_at_a_time(tmp_path: Path) -> None:
    consumed = [0]

    def lines() -> Iterator[bytes]:
        for n in range(2500):
            consumed[0] += 1
            yield json.dumps({"id": f"{n:05d}", "vector": [1.0, n]}).encode() + b"\n"

    seen: list[tuple[int, int]] = []

    class Bars:
        def start(self, label: str, total: int | None) -> None:
            assert (label, total) == ("t/c", None)

        def update(self, done: int, items: int) -> None:
            seen.append((done, items))

    with nighdb.open_store(sqlite_url(tmp_path)) as store:
        recorder = _Recorder(store, consumed)
        result = import_records(
            recorder,
            "t",
            "c",
            jsonl_records(lines(), "gen"),
            source="gen",
            batch_size=300,
            progress=Bars(),
        )
        assert result.items == 2500 and store.count("t", "c") == 2500
    assert max(recorder.in_flight) <= 300  # never more than one batch read ahead
    assert seen[-1][1] == 2500 and seen == sorted(seen)


def test_batches_are_bounded_by_bytes_too(tmp_path: Path) -> None:
    big = [Record(n, {"id": str(n), "vector": [1.0] * 4}, 1_000_000) for n in range(9)]
    with nighdb.open_store(sqlite_url(tmp_path)) as store:
        recorder = _Recorder(store)
        import_records(recorder, "t", "c", big, source="x", batch_bytes=3_000_000)
    assert recorder.batches == [3, 3, 3]


def test_export_reads_a_page_at_a_time(source: str) -> None:
    with nighdb.open_store(source) as store:
        recorder = _Recorder(store)
        out = io.StringIO()
        n = export_jsonl(recorder, "acme", "docs", out, batch_size=16)
    assert n == 40 == len(out.getvalue().splitlines()) - 1  # and the collection header
    assert recorder.fetched == [16, 16, 8]


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


# -- the pin travels with the data (issue #11, finding 1) --------------------------------


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


# -- one rule for unknown top-level fields (finding 4) -----------------------------------


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


DATA = Path(__file__).resolve().parents[1] / "examples" / "data"


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
