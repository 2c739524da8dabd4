"""A collection's text analyzer survives export/import, packs and migrate (contract §14): an
``english`` collection comes back ``english``, so its texts are searched the same way."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import nighdb
from nighdb import Collection, CollectionConflictError, InvalidArgumentError
from nighdb.migrate import migrate
from nighdb.packs import apply_pack, read_pack
from nighdb.transfer import export_jsonl, import_records, jsonl_records

T, C = "acme", "docs"
ITEMS = [
    {"id": "a", "vector": [1.0, 0.0], "text": "The cats were running"},
    {"id": "b", "vector": [0.0, 1.0], "text": "a cat runs"},
]


def _english_store(path: Path) -> nighdb.Store:
    store = nighdb.open_store(f"sqlite:///{path}")
    store.ensure_collection(T, Collection(C, 2, text_analyzer="english"))
    store.upsert(T, C, ITEMS)
    return store


def _exported(store: nighdb.Store) -> str:
    out = io.StringIO()
    export_jsonl(store, T, C, out)
    return out.getvalue()


def _import(store: nighdb.Store, text: str, name: str = C) -> None:
    lines = [line.encode() for line in text.splitlines()]
    import_records(store, T, name, jsonl_records(lines, "input.jsonl"), source="input.jsonl")


def _hits(store: nighdb.Store, name: str = C) -> list[str]:
    return sorted(m.id for m in store.search(T, name, text="run"))


def test_export_then_import_keeps_the_analyzer(tmp_path: Path) -> None:
    with _english_store(tmp_path / "a.db") as source:
        exported = _exported(source)
        assert _hits(source) == ["a", "b"]  # stemmed: "running" and "runs" are "run"
    header = json.loads(exported.splitlines()[0])["collection"]
    assert header["text_analyzer"] == "english"
    with nighdb.open_store(f"sqlite:///{tmp_path / 'b.db'}") as target:
        _import(target, exported, "copy")
        pin = target.describe_collection(T, "copy")
        assert pin is not None and pin.text_analyzer == "english"
        assert _hits(target, "copy") == ["a", "b"]  # plain would find neither


def test_an_import_naming_another_analyzer_than_the_stored_one_writes_nothing(
    tmp_path: Path,
) -> None:
    with _english_store(tmp_path / "a.db") as source:
        exported = _exported(source)
    with nighdb.open_store(f"sqlite:///{tmp_path / 'b.db'}") as target:
        target.ensure_collection(T, Collection(C, 2, text_analyzer="plain"))
        with pytest.raises(CollectionConflictError):
            _import(target, exported)
        assert target.count(T, C) == 0


def test_a_header_without_an_analyzer_keeps_the_stored_one(tmp_path: Path) -> None:
    header = {"collection": {"name": C, "dimensions": 2}}
    text = "\n".join(json.dumps(x) for x in [header, *ITEMS])
    with _english_store(tmp_path / "a.db") as store:
        _import(store, text)
        pin = store.describe_collection(T, C)
        assert pin is not None and pin.text_analyzer == "english"


def test_an_unknown_analyzer_in_a_header_is_refused(tmp_path: Path) -> None:
    header = {"collection": {"name": C, "dimensions": 2, "text_analyzer": "klingon"}}
    text = "\n".join(json.dumps(x) for x in [header, *ITEMS])
    with nighdb.open_store(f"sqlite:///{tmp_path / 'b.db'}") as target:
        with pytest.raises(InvalidArgumentError, match="text_analyzer"):
            _import(target, text)
        assert target.describe_collection(T, C) is None


def test_a_pack_with_an_exported_header_creates_the_collection_english(tmp_path: Path) -> None:
    with _english_store(tmp_path / "a.db") as source:
        (tmp_path / f"{C}.jsonl").write_text(_exported(source))
    with nighdb.open_store(f"sqlite:///{tmp_path / 'b.db'}") as target:
        apply_pack(target, T, read_pack(tmp_path / f"{C}.jsonl"))
        pin = target.describe_collection(T, C)
        assert pin is not None and pin.text_analyzer == "english"
        assert _hits(target) == ["a", "b"]


def test_migrate_keeps_the_analyzer(tmp_path: Path) -> None:
    with (
        _english_store(tmp_path / "a.db") as source,
        nighdb.open_store(f"sqlite:///{tmp_path / 'b.db'}") as target,
    ):
        migrate(source, target)
        pin = target.describe_collection(T, C)
        assert pin is not None and pin.text_analyzer == "english"
        assert _hits(target) == ["a", "b"]
