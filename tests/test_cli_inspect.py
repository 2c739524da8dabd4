"""``nigh ls|show|rm|search`` (contract §10): tables, ``--json`` (the HTTP API's shapes, JSON
only on stdout), refusals and exit codes."""

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
    {"id": "[b]c", "vector": [0.0, 1.0, 0.0], "metadata": {"lang": "en"}, "text": "[red]x"},
]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path)
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", ITEMS, model="toy-3d")
        seed(store, "acme", "Alpha", [{"id": "x", "vector": [1.0, 2.0]}], metric="l2")
        seed(store, "globex", "docs", [{"id": "g", "vector": [1.0]}], metric="ip")
    yield url


def test_ls_lists_pins_and_counts(url: str) -> None:
    result = run("ls", "acme", "--store", url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "MODEL", "DIMS", "METRIC", "ITEMS"]
    assert [line.split() for line in lines[2:]] == [
        ["Alpha", "2", "l2", "1"],  # byte order: "Alpha" < "docs"; no model
        ["docs", "toy-3d", "3", "cosine", "3"],
    ]
    data = json.loads(run("--store", url, "ls", "acme", "--json").stdout)
    assert data == {
        "collections": [
            {"name": "Alpha", "dimensions": 2, "embedding_model": "", "metric": "l2"}
            | {"text_analyzer": "plain", "count": 1},
            {"name": "docs", "dimensions": 3, "embedding_model": "toy-3d", "metric": "cosine"}
            | {"text_analyzer": "plain", "count": 3},
        ]
    }


def test_ls_of_a_tenant_without_collections(url: str) -> None:
    result = run("ls", "initech", "--store", url)
    assert result.exit_code == 0 and result.stdout == ""
    assert "no collections" in result.stderr
    assert json.loads(run("ls", "initech", "--json", "--store", url).stdout) == {"collections": []}


def test_show_and_its_ids(url: str) -> None:
    shown = run("show", "acme", "docs", "--store", url)
    assert shown.exit_code == 0
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert fields == {
        "tenant": "acme",
        "collection": "docs",
        "dimensions": "3",
        "model": "toy-3d",
        "metric": "cosine",
        "items": "3",
    }
    with_ids = run("show", "acme", "docs", "--ids", "--store", url).stdout.split("\n\n", 1)[1]
    assert with_ids.splitlines() == ["[b]c", "a", "b"]  # byte order
    data = json.loads(run("show", "acme", "docs", "--ids", "--json", "--store", url).stdout)
    assert data == {
        "collection": {"name": "docs", "dimensions": 3, "embedding_model": "toy-3d"}
        | {"metric": "cosine", "text_analyzer": "plain"},
        "count": 3,
        "ids": ["[b]c", "a", "b"],
    }
    assert "ids" not in json.loads(run("show", "acme", "docs", "--json", "--store", url).stdout)


@pytest.mark.parametrize("command", [["show", "acme", "nope"], ["search", "acme", "nope"]])
def test_a_missing_collection_is_exit_1_with_its_code(url: str, command: list[str]) -> None:
    result = run(*command, "--vector", "[1]", "--store", url) if "search" in command else None
    result = result or run(*command, "--store", url)
    assert result.exit_code == 1
    assert error_line(result.stderr).startswith("error: collection_not_found: ")
    assert result.stdout == ""


def test_rm_refuses_without_yes(url: str) -> None:
    result = run("rm", "acme", "docs", "--store", url)
    assert result.exit_code == 1
    assert error_line(result.stderr).startswith("error: refused: ")
    assert "--yes" in result.stderr
    with nighdb.open_store(url) as store:
        assert store.count("acme", "docs") == 3


def test_rm_drops_the_collection(url: str) -> None:
    result = run("rm", "acme", "docs", "--yes", "--store", url)
    assert result.exit_code == 0 and "3 items" in result.stdout
    again = run("rm", "acme", "docs", "--yes", "--json", "--store", url)
    assert again.exit_code == 0 and json.loads(again.stdout) == {"removed_items": 0}
    with nighdb.open_store(url) as store:
        assert store.describe_collection("acme", "docs") is None
        assert store.count("globex", "docs") == 1  # another tenant's same name is untouched


def test_search_prints_a_table_of_matches(url: str) -> None:
    result = run(
        "search", "acme", "docs", "--vector", "[1, 0.05, 0]", "--limit", "2", "--store", url
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "DISTANCE", "SCORE", "TEXT", "METADATA"]
    assert lines[2].split()[:4] == ["a", "0.001248", "0.998752", "one"]
    assert lines[3].split()[:3] == ["b", "0.001842", "0.998158"]
    assert len(lines) == 4


def test_search_by_text_and_hybrid_are_the_store_results(url: str) -> None:
    for args, kwargs in (
        (["--text", "RED one"], {"text": "RED one"}),
        (
            ["--text", "red", "--vector", "[1, 0, 0]", "--text-weight", "0.9"],
            {"query": [1, 0, 0], "text": "red", "text_weight": 0.9},
        ),
    ):
        result = run("search", "acme", "docs", *args, "--json", "--store", url)
        assert result.exit_code == 0, result.output
        with nighdb.open_store(url) as store:
            expected = store.search("acme", "docs", **kwargs)
        got = json.loads(result.stdout)["matches"]
        assert [(m["id"], m["score"]) for m in got] == [(m.id, m.score) for m in expected]
    neither = run("search", "acme", "docs", "--store", url)
    assert neither.exit_code != 0 and "--vector, --text, or both" in neither.output


def test_search_json_is_the_store_result(url: str, tmp_path: Path) -> None:
    query = tmp_path / "q.json"
    query.write_text("[0.5, 1, 0]")
    flt = '{"lang": "en"}'
    result = run("search", "acme", "docs", "--vector", f"@{query}", "--filter", flt, "--json")
    assert result.exit_code == 1  # no --store: the default ./nigh.db has no such collection
    result = run(
        "search", "acme", "docs", "--vector", f"@{query}", "--filter", flt, "--json", "--store", url
    )
    assert result.exit_code == 0, result.output
    with nighdb.open_store(url) as store:
        expected = store.search("acme", "docs", [0.5, 1, 0], filter={"lang": "en"})
    assert json.loads(result.stdout) == {
        "matches": [
            {"id": m.id, "distance": m.distance, "score": m.score}
            | {"metadata": m.metadata, "text": m.text}
            for m in expected
        ]
    }
    assert [m["id"] for m in json.loads(result.stdout)["matches"]] == ["[b]c", "a"]
    from_stdin = run(
        "search", "acme", "docs", "--vector", "@-", "--json", "--store", url, input="[0,1,0]"
    )
    assert json.loads(from_stdin.stdout)["matches"][0]["id"] == "[b]c"


def test_table_cells_are_text_not_markup(url: str) -> None:
    result = run("search", "acme", "docs", "--vector", "[0, 1, 0]", "--limit", "1", "--store", url)
    assert "[b]c" in result.stdout and "[red]x" in result.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--vector", "[1, 0]"], "dimension_mismatch"),
        (["--vector", "[0, 0, 0]"], "invalid_argument"),  # zero vector under cosine
        (["--vector", "[1, 0, 0]", "--filter", '{"lang": null}'], "invalid_argument"),
        (["--vector", "[1, 0, 0]", "--filter", '{"$nope": []}'], "invalid_argument"),
    ],
)
def test_search_refusals_are_one_coded_line(url: str, args: list[str], code: str) -> None:
    result = run("search", "acme", "docs", *args, "--store", url)
    assert result.exit_code == 1
    assert error_line(result.stderr).startswith(f"error: {code}: ")


@pytest.mark.parametrize(
    "args",
    [
        [],  # --vector is required
        ["--vector", "[1, 0"],
        ["--vector", '{"a": 1}'],
        ["--vector", "[NaN, 0, 0]"],
        ["--vector", "@/nonexistent/q.json"],
        ["--vector", "[1, 0, 0]", "--filter", "[1]"],
        ["--vector", "[1, 0, 0]", "--limit", "1.5"],
    ],
)
def test_search_usage_errors_exit_1(url: str, args: list[str]) -> None:
    result = run("search", "acme", "docs", *args, "--store", url)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""


def test_the_real_executable(url: str) -> None:
    ls = nigh("--store", url, "ls", "acme", "--json")
    assert ls.returncode == 0, ls.stderr
    assert [c["name"] for c in json.loads(ls.stdout)["collections"]] == ["Alpha", "docs"]
    show = nigh("show", "acme", "docs", "--json", "--ids", "--store", url)
    assert json.loads(show.stdout)["ids"] == ["[b]c", "a", "b"]
    search = nigh("search", "acme", "docs", "--vector", "[1,0,0]", "--limit", "1", "--store", url)
    assert search.returncode == 0 and search.stdout.splitlines()[2].split()[0] == "a"
    refused = nigh("rm", "acme", "docs", "--store", url)
    assert refused.returncode == 1 and error_line(refused.stderr).startswith("error: refused:")
    removed = nigh("rm", "acme", "docs", "--yes", "--json", "--store", url)
    assert removed.returncode == 0 and json.loads(removed.stdout) == {"removed_items": 3}
    missing = nigh("show", "acme", "docs", "--store", url)
    assert missing.returncode == 1
    assert error_line(missing.stderr).startswith("error: collection_not_found:")
