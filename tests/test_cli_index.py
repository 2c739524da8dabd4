"""``nigh index create|describe|drop`` and ``nigh search --exact/--ef-search`` (contract §15):
one library call each, ``--json`` in the HTTP API's shapes, errors with their codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import nighdb
from nighdb import IndexOptions

from .cli_support import error_line, run, seed, sqlite_url

ITEMS = [
    {"id": "a", "vector": [1.0, 0.0, 0.0]},
    {"id": "b", "vector": [0.9, 0.1, 0.0]},
    {"id": "c", "vector": [0.0, 1.0, 0.0]},
]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path)
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", ITEMS)
    yield url


def test_create_describe_and_drop(url: str) -> None:
    described = run("index", "describe", "acme", "docs", "--store", url)
    assert described.stdout == "collection 'docs' has no index: searches are exact\n"
    built = run("--store", url, "index", "create", "acme", "docs", "--m", "8", "--json")
    assert json.loads(built.stdout) == {"index": {"m": 8, "ef_construction": 64}}
    with nighdb.open_store(url) as store:
        assert store.describe_index("acme", "docs") == IndexOptions(8, 64)
    described = run("index", "describe", "acme", "docs", "--store", url, "--json")
    assert json.loads(described.stdout) == {"index": {"m": 8, "ef_construction": 64}}
    assert run("index", "describe", "acme", "docs", "--store", url).stdout == (
        "m=8 ef_construction=64\n"
    )
    for flags in ([], ["--exact"], ["--ef-search", "200"]):
        found = run(
            "search", "acme", "docs", "--vector", "[1, 0, 0]", "--json", *flags, "--store", url
        )
        assert [m["id"] for m in json.loads(found.stdout)["matches"]] == ["a", "b", "c"]
    dropped = run("index", "drop", "acme", "docs", "--store", url, "--json")
    assert json.loads(dropped.stdout) == {"dropped": True}
    assert run("index", "drop", "acme", "docs", "--store", url).stdout == (
        "collection 'docs' had no index\n"
    )


def test_errors_keep_their_codes(url: str) -> None:
    bad = run("index", "create", "acme", "docs", "--m", "1", "--store", url)
    assert bad.exit_code != 0
    assert error_line(bad.stderr) == "error: invalid_argument: m must be between 2 and 100"
    missing = run("index", "describe", "acme", "nope", "--store", url)
    assert error_line(missing.stderr).startswith("error: collection_not_found: ")
    wide = run(
        "search", "acme", "docs", "--vector", "[1, 0, 0]", "--ef-search", "0", "--store", url
    )
    assert "ef_search must be between 1 and 1000" in error_line(wide.stderr)
