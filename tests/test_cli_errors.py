"""Every ``nigh`` failure, usage errors included, is one line ``error: <code>: <message>`` on
stderr with exit 1 (refused or usage) or 2 (anything else); help is help, exit 0. Run through
the real executable, as a script would meet it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import nighdb

from .cli_support import error_line, nigh, run, seed, sqlite_url
from .service_support import InProcessService


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


def _reading_commands(tmp_path: Path) -> list[list[str]]:
    pack = tmp_path / "docs.jsonl"
    pack.write_text('{"id": "a", "vector": [1, 0, 0]}\n')
    out = tmp_path / "out.jsonl"
    return [
        ["ls", "acme"],
        ["show", "acme", "docs"],
        ["show", "acme", "docs", "--ids", "--json"],
        ["search", "acme", "docs", "--vector", "[1, 0, 0]"],
        ["export", "acme", "docs", str(out)],
        ["diff", "acme", "docs", str(pack)],
        ["keys", "ls"],
        ["keys", "revoke", "0123456789abcdef"],
        ["rm", "acme", "docs", "--yes"],  # creates nothing either: there is nothing to drop
    ]


@pytest.mark.parametrize("index", range(9))
def test_reading_commands_never_create_a_store(tmp_path: Path, index: int) -> None:
    folder = tmp_path / "typo"
    missing = folder / "store.db"
    args = _reading_commands(tmp_path)[index]
    result = run(*args, "--store", f"sqlite:///{missing}")
    assert result.exit_code == 1, result.output
    line = error_line(result.stderr)
    assert line.startswith("error: invalid_argument: no store exists at "), line
    assert str(missing) in line
    assert not missing.exists() and not folder.exists()  # nothing created, not even the folder
    assert not (tmp_path / "out.jsonl").exists()


def test_reading_an_empty_file_that_is_no_store_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = run("ls", "acme", "--store", str(empty))
    assert result.exit_code == 1
    assert "is not a nighdb store" in error_line(result.stderr)
    assert empty.read_bytes() == b""


def test_migrate_from_a_missing_source_creates_nothing(tmp_path: Path) -> None:
    source, destination = tmp_path / "typo" / "src.db", tmp_path / "dst" / "dst.db"
    result = run("migrate", f"sqlite:///{source}", f"sqlite:///{destination}")
    assert result.exit_code == 1
    assert str(source) in error_line(result.stderr)
    assert not source.parent.exists() and not destination.parent.exists()


def test_writing_commands_still_create_the_store(tmp_path: Path) -> None:
    data = tmp_path / "docs.jsonl"
    data.write_text('{"id": "a", "vector": [1, 0, 0]}\n')
    imported = tmp_path / "new" / "a.db"
    assert run("import", "acme", "docs", str(data), "--store", str(imported)).exit_code == 0
    keyed = tmp_path / "new2" / "b.db"
    assert run("keys", "create", "--admin", "--store", str(keyed)).exit_code == 0
    applied = tmp_path / "new3" / "c.db"
    assert run("apply", "acme", str(data), "--store", str(applied)).exit_code == 0
    for path in (imported, keyed, applied):
        with nighdb.open_store(str(path), create=False) as store:
            assert store.list_tenants() == ([] if path is keyed else ["acme"])
    # and what they created, the reading commands now read
    assert run("show", "acme", "docs", "--store", str(imported)).exit_code == 0


# Every public Store method and module function a message could name as its remedy.
PYTHON_NAMES = {
    name for name in dir(nighdb.Store) + dir(nighdb) if not name.startswith("_") and "_" in name
}


def _names_no_python(message: str) -> None:
    assert "()" not in message, message
    named = {word for word in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", message)}
    assert not named & PYTHON_NAMES, message
    assert "ensure_collection" not in message and "nighdb." not in message, message


def test_a_missing_collection_names_no_python_call(url: str) -> None:
    """The same message reaches every interface: it must make sense to each."""
    cli = nigh("show", "acme", "nope", "--store", url)
    line = error_line(cli.stderr)
    assert line.startswith("error: collection_not_found: collection 'nope'")
    _names_no_python(line)
    search = nigh("search", "acme", "nope", "--vector", "[1, 0, 0]", "--store", url)
    _names_no_python(error_line(search.stderr))
    with InProcessService(url) as service:
        key = service.create_key(tenant="acme")
        answer = service.client.post(
            "/v1/collections/nope/search",
            json={"vector": [1, 0, 0]},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "collection_not_found" and "'nope'" in error["message"]
    _names_no_python(error["message"])


def test_import_into_a_new_collection_describes_a_length_mismatch(tmp_path: Path) -> None:
    data = tmp_path / "docs.jsonl"
    lines = ['{"id": "a", "vector": [1, 0, 0]}', '{"id": "b", "vector": [0, 1, 0]}']
    data.write_text("\n".join([*lines, '{"id": "c", "vector": [1, 0]}']) + "\n")
    url = sqlite_url(tmp_path)
    result = nigh("import", "acme", "docs", str(data), "--store", url)
    assert result.returncode == 1
    assert error_line(result.stderr) == (
        f"error: dimension_mismatch: {data} line 3: the vector has 2 values, but the first "
        "vector (line 1) has 3; collection 'docs' does not exist yet, so nothing was created "
        "or imported"
    )
    assert "holds" not in result.stderr  # it never held anything
    with nighdb.open_store(url) as store:
        assert store.describe_collection("acme", "docs") is None
