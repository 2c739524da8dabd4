"""``nigh keys create|ls|revoke`` and the CLI conventions they share (contract §10, §12)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import nighdb
from nighdb.cli import main
from nighdb.keys import KeyRegistry, verify_key


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    nighdb.open_store(url).close()  # an empty store: keys ls, a reading command, needs one
    return url


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def registry(url: str) -> KeyRegistry:
    store = nighdb.open_store(url)
    assert isinstance(store, KeyRegistry)
    return store


def test_create_prints_the_key_once_and_stores_only_its_hash(url: str) -> None:
    result = run("--store", url, "keys", "create", "--tenant", "acme")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("nigh_") and "\n" not in key
    assert "cannot be shown again" in result.stderr
    keys = registry(url)
    record = verify_key(keys, key)
    assert record is not None and record.tenant == "acme" and not record.admin
    assert key not in Path(url.removeprefix("sqlite:///")).read_bytes().decode("latin-1")
    keys.close()  # type: ignore[attr-defined]


def test_create_json(url: str) -> None:
    tenant = run("keys", "create", "--tenant", "globex", "--json", "--store", url)
    admin = run("keys", "create", "--admin", "--json", "--store", url)
    for result, expected_tenant, is_admin in [(tenant, "globex", False), (admin, None, True)]:
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)  # stdout is JSON only
        assert set(data) == {"key", "id", "tenant", "admin"}
        assert (data["tenant"], data["admin"]) == (expected_tenant, is_admin)
        assert data["key"].startswith(f"nigh_{data['id']}_")


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "create"],
        ["keys", "create", "--tenant", "a", "--admin"],
        ["keys", "create", "--bogus"],
        ["keys", "revoke"],
        ["keys", "nope"],
        ["nope"],
    ],
)
def test_usage_errors_exit_1(url: str, args: list[str]) -> None:
    result = run("--store", url, *args)
    assert result.exit_code == 1, result.output


@pytest.mark.parametrize("tenant", ["", "a\x00b", "x" * 257])
def test_an_invalid_tenant_is_refused_with_its_code(url: str, tenant: str) -> None:
    result = run("--store", url, "keys", "create", "--tenant", tenant)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: invalid_argument: ")


def test_ls_shows_ids_and_never_secrets(url: str) -> None:
    keys = [
        json.loads(run("--store", url, "keys", "create", *flags, "--json").stdout)
        for flags in (["--tenant", "acme"], ["--admin"])
    ]
    run("--store", url, "keys", "revoke", keys[0]["id"])
    listing = run("--store", url, "keys", "ls")
    assert listing.exit_code == 0
    table = listing.stdout
    assert table.splitlines()[0].split() == ["ID", "TENANT", "CREATED", "STATUS"]
    assert keys[0]["id"] in table and "revoked" in table
    assert keys[1]["id"] in table and "(admin)" in table
    as_json = run("--store", url, "keys", "ls", "--json")
    data = json.loads(as_json.stdout)
    assert [(d["id"], d["tenant"], d["admin"], d["revoked"]) for d in data] == [
        (keys[0]["id"], "acme", False, True),
        (keys[1]["id"], None, True, False),
    ]
    for output in (table, as_json.stdout):
        for key in keys:
            assert key["key"] not in output
            assert key["key"].split("_", 2)[2] not in output  # not even the secret part


def test_ls_of_an_empty_store(url: str) -> None:
    assert json.loads(run("--store", url, "keys", "ls", "--json").stdout) == []
    empty = run("--store", url, "keys", "ls")
    assert empty.exit_code == 0 and empty.stdout == ""


def test_revoke(url: str) -> None:
    created = json.loads(run("--store", url, "keys", "create", "--tenant", "a", "--json").stdout)
    revoked = run("--store", url, "keys", "revoke", created["id"])
    assert revoked.exit_code == 0 and created["id"] in revoked.stderr
    keys = registry(url)
    assert verify_key(keys, created["key"]) is None
    keys.close()  # type: ignore[attr-defined]
    again = run("--store", url, "keys", "revoke", created["key"])  # the key itself works too
    assert again.exit_code == 0 and "already" in again.stderr
    unknown = run("--store", url, "keys", "revoke", "0000000000000000")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: invalid_argument: ")


def test_store_comes_from_either_position_or_the_environment(tmp_path: Path) -> None:
    first, second = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    run("keys", "create", "--tenant", "env", env={"NIGH_STORE": first})
    run("--store", first, "keys", "create", "--tenant", "global")
    # After the command, --store wins over the global option and the environment.
    run("--store", first, "keys", "create", "--tenant", "local", "--store", second)

    def tenants(url: str) -> list[str]:
        data = json.loads(run("keys", "ls", "--json", env={"NIGH_STORE": url}).stdout)
        return [d["tenant"] for d in data]

    assert tenants(first) == ["env", "global"]
    assert tenants(second) == ["local"]


def test_a_store_without_keys_is_refused(tmp_path: Path) -> None:
    result = run("--store", "http://127.0.0.1:9/", "keys", "ls")
    assert result.exit_code == 1
    assert "error: invalid_argument:" in result.stderr and "keeps no API keys" in result.stderr


def test_other_errors_exit_2(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    # keys create creates the store, and cannot under a file: unavailable, exit 2
    result = run("--store", f"sqlite:///{blocked / 'sub' / 'x.db'}", "keys", "create", "--admin")
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in group.commands.items():
        out.append((prefix + name, command))
        if isinstance(command, click.Group):
            out += _commands(command, prefix + name + " ")
    return out


def test_every_command_and_option_has_help() -> None:
    commands = [("", main), *_commands(main)]
    assert {"serve", "keys", "keys create", "keys ls", "keys revoke"} <= {n for n, _ in commands}
    for name, command in commands:
        assert command.help, f"nigh {name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"nigh {name} {param.opts} has no help text"
        result = run(*name.split(), "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout
