"""``nigh serve``'s refusals (a running server is tested in test_service_process.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nighdb.cli import main
from nighdb.cli.serve import serve_store_options


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--store", f"sqlite:///{tmp_path / 's.db'}", "--port", str(port))
    assert result.exit_code == 2, result.output
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: unavailable: cannot listen on 127.0.0.1:")


def test_a_store_that_keeps_no_keys_cannot_be_served() -> None:
    result = run("serve", "--store", "http://127.0.0.1:9", "--port", "0")
    assert result.exit_code == 1
    assert "error: invalid_argument:" in result.stderr and "API keys" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--max-items", "0"],
        ["--max-body-bytes", "-1"],
        ["--port", "70000"],
        ["--default-page", "20000", "--max-page", "10000"],
        ["--log-level", "loud"],
        ["--store-timeout", "0"],
        ["--store-timeout", "-1"],
    ],
)
def test_bad_options_are_refused(tmp_path: Path, args: list[str]) -> None:
    result = run("serve", "--store", f"sqlite:///{tmp_path / 's.db'}", *args)
    assert result.exit_code == 1, result.output


def test_serve_help_lists_every_limit() -> None:
    text = run("serve", "--help").stdout
    for option in (
        "--max-body-bytes",
        "--max-items",
        "--max-search-limit",
        "--max-dimensions",
        "--default-page",
        "--max-page",
        "--max-queries",
        "--store-timeout",
        "--host",
        "--port",
        "--store",
    ):
        assert option in text


def test_store_options_of_nigh_serve() -> None:
    pg = "postgresql://app@db/vectors"
    # Unset: the stores' own defaults, nothing passed.
    assert serve_store_options(pg, store_timeout=None, threads=False, max_concurrency=8) == {}
    assert serve_store_options(pg, store_timeout=1.0, threads=False, max_concurrency=8) == {
        "timeout": 1.0,
        "connect_timeout": 1,
    }
    assert serve_store_options(pg, store_timeout=30, threads=False, max_concurrency=8) == {
        "timeout": 30,
        "connect_timeout": 5,  # libpq's default stays the ceiling
    }
    assert serve_store_options("x.db", store_timeout=2.5, threads=True, max_concurrency=8) == {
        "busy_timeout": 2.5
    }
    # Threads share the server process's pool: one connection per slot, plus two.
    assert serve_store_options(pg, store_timeout=None, threads=True, max_concurrency=8) == {}
    assert serve_store_options(pg, store_timeout=None, threads=True, max_concurrency=20) == {
        "pool_max_size": 22
    }
    assert serve_store_options(pg, store_timeout=None, threads=False, max_concurrency=20) == {}
