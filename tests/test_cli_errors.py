"""Every ``nigh`` failure, usage errors included, is one line ``error: <code>: <message>`` on
stderr with exit 1 (refused or usage) or 2 (anything else); help is help, exit 0. Run through
the real executable, as a script would meet it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import nighdb

from .cli_support import error_line, nigh, seed, sqlite_url


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path)
    with nighdb.open_store(url) as store:
        seed(store, "acme", "docs", [{"id": "a", "vector": [1.0, 0.0, 0.0]}])
    yield url


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["search", "acme", "docs", "--vector", "[1, 0"], "Invalid value for '--vector'"),
        (["search", "acme", "docs", "--vector", "[1]", "--filter", "{"], "'--filter'"),
        (["search", "acme", "--vector", "[1]"], "Missing argument 'COLLECTION'"),
        (["search", "acme", "docs", "--vector", "[1]", "--limit", "abc"], "'--limit'"),
        (["keys", "create"], "give exactly one of --tenant TENANT or --admin"),
        (["keys", "create", "--tenant", "acme", "--admin"], "exactly one of"),
        (["ls", "acme", "--bogus"], "No such option '--bogus'"),
        (["--bogus", "ls", "acme"], "No such option '--bogus'"),
        (["frob"], "No such command 'frob'"),
        (["keys", "frob"], "No such command 'frob'"),
    ],
)
def test_usage_errors_are_one_coded_line(url: str, args: list[str], says: str) -> None:
    result = nigh(*args, "--store", url) if args[0] != "--bogus" else nigh(*args)
    assert result.returncode == 1, result.stderr
    line = error_line(result.stderr)
    assert line.startswith("error: invalid_argument: nigh"), line
    assert says in line and "--help" in line  # what is wrong, and where help is
    assert "Usage:" not in result.stderr and result.stdout == ""


def test_an_unreadable_input_file_is_a_coded_line(url: str, tmp_path: Path) -> None:
    result = nigh("import", "acme", "docs", str(tmp_path / "nope.jsonl"), "--store", url)
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert line.startswith("error: invalid_argument: ") and "nope.jsonl" in line


@pytest.mark.parametrize("args", [["--help"], ["search", "--help"], ["keys", "create", "-h"]])
def test_help_is_still_help(args: list[str]) -> None:
    result = nigh(*args)
    assert result.returncode == 0 and result.stdout.startswith("Usage: nigh")
    assert result.stderr == ""


@pytest.mark.parametrize("args", [[], ["keys"]])
def test_a_group_without_a_command_prints_its_help(args: list[str]) -> None:
    result = nigh(*args)
    assert result.returncode == 0 and result.stdout.startswith("Usage: nigh")
