"""What every ``nigh`` command shares: the ``--store`` option, opening the store, ``--json``,
and one error policy (contract §12): exit 0 ok, 1 refused or usage error, 2 any other error,
each error printed as one line ``error: <code>: <message>`` on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..errors import NighError
from ..store import DEFAULT_URL, Store, open_store

__all__ = [
    "CliState",
    "cli_store_url",
    "NighGroup",
    "echo_json",
    "json_option",
    "open_cli_store",
    "store_option",
]

F = TypeVar("F", bound=Callable[..., Any])

STORE_HELP = (
    "Store URL: sqlite:///path.db (or a path), postgresql://…, or http(s)://… for a nigh "
    "service. Default: $NIGH_STORE, else sqlite:///./nigh.db."
)


@dataclass
class CliState:
    """The group's context object: the store URL from ``nigh --store`` or a command's own."""

    store_url: str | None = None


def _set_store(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(CliState).store_url = value


def store_option(f: F) -> F:
    """``--store`` after the command too (``nigh keys ls --store URL``); it wins over the
    global one."""
    return click.option(
        "--store",
        metavar="URL",
        expose_value=False,
        callback=_set_store,
        help=STORE_HELP,
    )(f)


def json_option(f: F) -> F:
    """``--json``: only JSON on stdout (messages go to stderr)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only (on stdout).")(f)


def cli_store_url() -> str:
    """The store URL this command uses (``--store``, else ``$NIGH_STORE``, else default)."""
    state = click.get_current_context().find_object(CliState)
    return (state.store_url if state else None) or os.environ.get("NIGH_STORE") or DEFAULT_URL


def open_cli_store(*, create: bool, **options: Any) -> Store:
    """The command's store. Only writing commands pass ``create=True``: a reading command on
    a store that does not exist fails naming it, instead of creating an empty one (a
    mistyped path must not look like lost data). ``options`` are the backend's (e.g. the
    read replicas of ``nigh serve``)."""
    return open_store(cli_store_url(), create=create, **options)


def echo_json(payload: object) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False))


def _one_line(text: str) -> str:
    return " ".join(text.split())


# The code of a usage error (a bad option value, a missing argument, an unknown option or
# command): the library's code for bad input, so scripts need to know only one.
USAGE_CODE = "invalid_argument"


def _usage_message(exc: click.UsageError) -> str:
    """click's message on one line, naming the command and where its help is."""
    where = exc.ctx.command_path if exc.ctx is not None else "nigh"
    message = _one_line(exc.format_message()).rstrip(".")
    return f"{where}: {message} (see '{where} --help')"


class NighGroup(click.Group):
    """A click group that maps every failure to the exit codes and one-line errors above."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Abort:
            click.echo("error: interrupted: the command was interrupted", err=True)
            sys.exit(1)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare ``nigh`` or ``nigh keys``
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.UsageError as exc:
            click.echo(f"error: {USAGE_CODE}: {_usage_message(exc)}", err=True)
            sys.exit(1)  # click uses 2 for usage errors; contract §12 says 1
        except click.ClickException as exc:
            if type(exc).show is not click.ClickException.show:
                exc.show()  # a command's own one-line error (``refused``)
            else:  # click.FileError, click.BadParameter outside parsing, …
                click.echo(f"error: {USAGE_CODE}: {_one_line(exc.format_message())}", err=True)
            sys.exit(1)
        except NighError as exc:
            click.echo(f"error: {exc.code}: {_one_line(exc.message)}", err=True)
            sys.exit(1 if exc.http_status < 500 else 2)  # 4xx: the store refused
        except Exception as exc:  # the last resort: one line, exit 2
            click.echo(f"error: internal: {type(exc).__name__}: {_one_line(str(exc))}", err=True)
            sys.exit(2)
        sys.exit(result if isinstance(result, int) else 0)
