"""``nigh tenants|count|get|delete`` and ``export --filter`` (contract §13): one library call
each, ``--json`` in the HTTP API's shapes, refusals and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import nighdb

from .cli_support import error_line, nigh, run, seed, sqlite_url

ITEMS = [
    {"id": "a", "vector": [1.0, 0.0, 0.0], "metadata": {"lang": "en", "year": 2021}, "text": "one"},
    {"id": "b", "vector": [0.9, 0.1, 0.0], "metadata": {"lang": "de", "year": 2023}},
    {"id": "c", "vector": [0.0, 1.0, 0.0], "metadata": {"lang": "en"}},
]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path)
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", ITEMS)
        seed(store, "globex", "docs", [{"id": "g", "vector": [1.0]}])
    yield url


def test_tenants(url: str) -> None:
    assert run("tenants", "--store", url).stdout.splitlines() == ["acme", "globex"]
    assert json.loads(run("--store", url, "tenants", "--json").stdout) == {
        "tenants": ["acme", "globex"]
    }


def test_count_with_and_without_filter(url: str) -> None:
    assert run("count", "acme", "docs", "--store", url).stdout == "3\n"
    result = run("count", "acme", "docs", "--filter", '{"lang": "en"}', "--json", "--store", url)
    assert json.loads(result.stdout) == {"count": 2}
    bad = run("count", "acme", "docs", "--filter", '{"lang": null}', "--store", url)
    assert bad.exit_code == 1
    assert error_line(bad.stderr).startswith("error: invalid_argument: ")
    missing = run("count", "acme", "nope", "--store", url)
    assert missing.exit_code == 1
    assert error_line(missing.stderr).startswith("error: collection_not_found: ")


def test_get_prints_stored_items(url: str) -> None:
    result = run("get", "acme", "docs", "b", "nope", "a", "--store", url)
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["b", "a"]
    assert lines[1] == {
        "id": "a",
        "vector": [1.0, 0.0, 0.0],
        **{k: ITEMS[0][k] for k in ("metadata", "text")},
    }
    assert "1 id not found" in result.stderr
    data = json.loads(run("get", "acme", "docs", "c", "--json", "--store", url).stdout)
    assert data == {
        "items": [{"id": "c", "vector": [0.0, 1.0, 0.0], "metadata": {"lang": "en"}, "text": ""}]
    }


def test_delete_needs_yes_and_exactly_one_target(url: str) -> None:
    refused = run("delete", "acme", "docs", "--filter", "{}", "--store", url)
    assert refused.exit_code == 1
    assert "add --yes" in refused.stderr
    both = run("delete", "acme", "docs", "--ids", "a", "--filter", "{}", "--yes", "--store", url)
    assert both.exit_code == 1
    neither = run("delete", "acme", "docs", "--yes", "--store", url)
    assert neither.exit_code == 1
    with nighdb.open_store(url) as store:
        assert store.count("acme", "docs") == 3


def test_delete_by_filter_and_by_ids(url: str) -> None:
    result = run("delete", "acme", "docs", "--filter", '{"lang": "de"}', "--yes", "--store", url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "deleted 1 item of acme/docs\n"
    result = run(
        "delete", "acme", "docs", "--ids", "a", "--ids", "zz", "--yes", "--json", "--store", url
    )
    assert json.loads(result.stdout) == {"deleted": 1}
    with nighdb.open_store(url) as store:
        assert store.list_ids("acme", "docs") == ["c"]


def test_export_with_a_filter(url: str, tmp_path: Path) -> None:
    out = tmp_path / "en.jsonl"
    result = run("export", "acme", "docs", str(out), "--filter", '{"lang": "en"}', "--store", url)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert "collection" in lines[0]
    assert [line["id"] for line in lines[1:]] == ["a", "c"]
    bad = tmp_path / "bad.jsonl"
    result = run("export", "acme", "docs", str(bad), "--filter", '{"x": {}}', "--store", url)
    assert result.exit_code == 1
    assert not bad.exists()


def test_delete_in_a_real_process(url: str) -> None:
    done = nigh("--store", url, "delete", "acme", "docs", "--filter", "{}", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"deleted": 3}
