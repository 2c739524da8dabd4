"""``nigh import-from``: a real Chroma persistent directory and real PGVector tables made by
langchain-postgres on the test PostgreSQL, copied into nighdb with ids, vectors bit for bit,
metadata and documents."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
import sqlalchemy
from chromadb.config import Settings
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_postgres import PGVector

import nighdb

from . import pg_server
from .cli_support import error_line, run, sqlite_url

ROWS = 1234  # more than one batch of 1000: the source is read in pages


def _source_rows() -> tuple[list[str], np.ndarray, list[dict[str, Any] | None], list[str | None]]:
    rng = np.random.default_rng(7)
    ids = [f"doc-{i:05d}" for i in range(ROWS)]
    vectors = rng.standard_normal((ROWS, 8)).astype(np.float32)
    vectors[0, 0] = np.float32(-0.0)
    vectors[1, 1] = np.float32(1e-40)  # a subnormal survives too
    metadatas: list[dict[str, Any] | None] = [
        {"n": i, "lang": ["en", "de"][i % 2], "ok": i % 3 == 0, "w": i / 7} for i in range(ROWS)
    ]
    metadatas[5] = None
    documents: list[str | None] = [f"text {i}" for i in range(ROWS)]
    documents[6] = None
    return ids, vectors, metadatas, documents


def _stored(url: str, tenant: str, name: str) -> dict[str, nighdb.Item]:
    with nighdb.open_store(url) as store:
        ids = store.list_ids(tenant, name)
        return {item.id: item for item in store.fetch(tenant, name, ids)}


def test_import_from_a_chroma_directory(tmp_path: Path) -> None:
    ids, vectors, metadatas, documents = _source_rows()
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    source = client.create_collection(
        "handbook", metadata={"hnsw:space": "ip"}, embedding_function=None
    )
    source.add(ids=ids, embeddings=vectors, metadatas=metadatas, documents=documents)  # type: ignore[arg-type]
    url = sqlite_url(tmp_path)
    args = ["import-from", "chroma", str(tmp_path / "chroma"), "acme", "docs"]
    result = run(*args, "--from-collection", "handbook", "--model", "m1", "--store", url, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "collection": {
            "name": "docs",
            "dimensions": 8,
            "embedding_model": "m1",
            "metric": "ip",
            "text_analyzer": "plain",
        },
        "created": True,
        "imported": ROWS,
    }
    stored = _stored(url, "acme", "docs")
    assert sorted(stored) == ids
    # Metadata as Chroma holds it (its own storage rounds some floats in the last digit).
    held = source.get(ids=ids, include=["metadatas"])
    chroma_metadata = dict(zip(held["ids"], held["metadatas"] or [], strict=True))
    for i, item_id in enumerate(ids):
        item = stored[item_id]
        assert np.asarray(item.vector, dtype=np.float32).tobytes() == vectors[i].tobytes()
        assert dict(item.metadata) == dict(chroma_metadata[item_id] or {})
        assert item.text == (documents[i] or "")
    # idempotent: a second run changes nothing
    again = run(*args, "--from-collection", "handbook", "--store", url, "--json")
    assert json.loads(again.stdout)["created"] is False
    assert len(_stored(url, "acme", "docs")) == ROWS


def test_a_missing_chroma_collection_is_named(tmp_path: Path) -> None:
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    client.create_collection("handbook", embedding_function=None)
    url = sqlite_url(tmp_path)
    result = run("import-from", "chroma", str(tmp_path / "chroma"), "acme", "docs", "--store", url)
    assert result.exit_code != 0
    assert "no Chroma collection 'docs'" in error_line(result.stderr)
    assert "handbook" in result.stderr


def _with_public(url: str) -> str:
    """The test schema's URL with ``public`` (where pgvector's type lives) on the search path
    too, as an application's PGVector database has it."""
    parts = urllib.parse.urlsplit(url)
    query = [
        (key, f"{value},public" if key == "options" else value)
        for key, value in urllib.parse.parse_qsl(parts.query)
    ]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def test_import_from_langchain_pgvector_tables(tmp_path: Path) -> None:
    source_url = _with_public(pg_server.url_for(tmp_path))
    embedding = DeterministicFakeEmbedding(size=8)
    texts = [f"passage {i}" for i in range(ROWS)]
    ids = [f"p{i:05d}" for i in range(ROWS)]
    metadatas = [{"n": i, "tags": ["a", str(i % 3)], "src": {"page": i}} for i in range(ROWS)]
    engine = sqlalchemy.create_engine(
        source_url.replace("postgresql://", "postgresql+psycopg://", 1)
    )
    try:
        pgvector = PGVector(
            embeddings=embedding, connection=engine, collection_name="handbook", use_jsonb=True
        )
        pgvector.add_texts(texts, metadatas, ids=ids)
        other = PGVector(embeddings=embedding, connection=engine, collection_name="other")
        other.add_texts(["elsewhere"], ids=["x"])
    finally:
        engine.dispose()
    url = sqlite_url(tmp_path)
    result = run(
        *("import-from", "pgvector-langchain", source_url, "acme", "handbook"),
        *("--store", url, "--json", "--batch-size", "500"),
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["collection"]["metric"] == "cosine"
    assert json.loads(result.stdout)["imported"] == ROWS
    stored = _stored(url, "acme", "handbook")
    assert sorted(stored) == ids  # only that collection's rows
    expected = np.asarray(embedding.embed_documents(texts), dtype=np.float32)
    for i, item_id in enumerate(ids):
        item = stored[item_id]
        assert np.asarray(item.vector, dtype=np.float32).tobytes() == expected[i].tobytes()
        assert dict(item.metadata) == metadatas[i]
        assert item.text == texts[i]


def test_pgvector_source_errors_are_one_line(tmp_path: Path) -> None:
    source_url = pg_server.url_for(tmp_path)  # a schema without PGVector's tables
    url = sqlite_url(tmp_path)
    result = run("import-from", "pgvector-langchain", source_url, "acme", "docs", "--store", url)
    assert result.exit_code != 0
    assert "langchain_pg_collection" in error_line(result.stderr)


@pytest.mark.parametrize("source", ["chroma", "pgvector-langchain"])
def test_help_names_the_extra(source: str) -> None:
    result = run("import-from", source, "--help")
    assert result.exit_code == 0
    assert "nighdb[" in result.stdout


def test_the_library_and_cli_import_no_framework_or_source_driver() -> None:
    """The adapters' frameworks and the importers' drivers load only when used."""
    probe = (
        "import sys, nighdb, nighdb.cli, nighdb.importers, nighdb.integrations;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1].split(','))))"
    )
    heavy = "langchain_core,llama_index,chromadb,torch,sentence_transformers,psycopg"
    done = subprocess.run(
        [sys.executable, "-c", probe, heavy], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
