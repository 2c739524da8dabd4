"""The CLI documents itself: every command and option has help, every command has a section
in docs/cli.md, and every ``$ nigh …`` example there uses options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from nighdb.cli import main

from .cli_support import run

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")

READING = ["ls", "show", "search", "diff", "tenants", "count", "get"]  # print data: --json required
NO_STORE = {"migrate"}  # takes its two URLs as arguments


def _walk(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        out.append((prefix + name, command))
        if isinstance(command, click.Group):
            out += _walk(command, prefix + name + " ")
    return out


COMMANDS = _walk(main)


def test_every_command_is_registered() -> None:
    names = {name for name, _ in COMMANDS}
    expected = {"ls", "show", "rm", "search", "import", "export", "diff", "apply", "migrate"}
    expected |= {"tenants", "count", "get", "delete"}
    assert expected | {"serve", "keys", "keys create", "keys ls", "keys revoke"} <= names


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_and_option_has_help(name: str, command: click.Command) -> None:
    assert command.help and command.help.strip(), f"nigh {name} has no help"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"nigh {name} {param.opts} has no help"
    result = run(*name.split(), "--help")
    usage = result.stdout.splitlines()[0]
    assert result.exit_code == 0 and usage.startswith("Usage: ") and f" {name} " in usage
    for param in command.params:  # every argument shows in the usage line
        if isinstance(param, click.Argument):
            assert (param.metavar or str(param.name).upper()) in usage


@pytest.mark.parametrize("name", READING)
def test_reading_commands_print_json(name: str) -> None:
    assert "--json" in {o for p in main.commands[name].params for o in p.opts}


@pytest.mark.parametrize(
    "name", [n for n, c in COMMANDS if not isinstance(c, click.Group) and n not in NO_STORE]
)
def test_store_is_accepted_after_the_command(name: str) -> None:
    command = main
    for part in name.split():
        assert isinstance(command, click.Group)
        command = command.commands[part]  # type: ignore[assignment]
    assert "--store" in {o for p in command.params for o in p.opts}


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS if " " not in n])
def test_every_command_has_a_section_in_docs_cli_md(name: str) -> None:
    assert re.search(rf"^#+ nigh {re.escape(name)}$", DOC, flags=re.M), name
    assert f"$ nigh {name}" in DOC, f"docs/cli.md has no example of nigh {name}"


def _examples() -> list[str]:
    return re.findall(r"^\$ (nigh .*)$", DOC, flags=re.M)


def test_docs_have_examples() -> None:
    assert len(_examples()) >= 20


@pytest.mark.parametrize("line", _examples())
def test_every_example_uses_real_options(line: str) -> None:
    words = shlex.split(line.split(" > ")[0].split(" | ")[0])[1:]
    command: click.Command = main
    options = {o for p in main.params for o in p.opts} | {"--help"}
    for word in words:
        if isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
            options |= {o for p in command.params for o in p.opts}
        elif word.startswith("--"):
            assert word in options, f"{line}: no option {word}"
    assert command is not main, line
