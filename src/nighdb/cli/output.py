"""What the data commands share: JSON option values (``JSON`` or ``@file``), ``--batch-size``,
rich tables on stdout, rich progress bars on stderr, and the ``refused`` error (exit 1).

Tables and bars use rich. Cells are ``Text``, never markup, so ids like ``[b]`` print as they
are. Without a terminal, tables are printed unwrapped and without trailing spaces (scripts
should still prefer ``--json``), and progress bars are off: stderr then gets one summary line
per command instead of bar redraws.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from ..jsontext import decode_json
from ..transfer import DEFAULT_BATCH_SIZE, Progress

__all__ = [
    "JsonValue",
    "RefusedError",
    "batch_option",
    "cli_progress",
    "count",
    "print_table",
]

F = TypeVar("F", bound=Callable[..., Any])


class RefusedError(click.ClickException):
    """The command would do something it needs a confirmation for: exit 1, one line."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: refused: {self.message}", err=True)


class JsonValue(click.ParamType):  # type: ignore[type-arg]
    """A JSON value given inline or as ``@file`` (``@-``: stdin), of one expected type."""

    name = "json"

    def __init__(self, kind: type, what: str) -> None:
        self.kind = kind
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        text = value
        if value.startswith("@"):
            source = value[1:]
            try:
                text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.fail(f"cannot read {source!r}: {exc}", param, ctx)
        try:
            parsed = decode_json(text)
        except (ValueError, RecursionError) as exc:
            self.fail(f"not valid JSON ({exc})", param, ctx)
        if not isinstance(parsed, self.kind):
            self.fail(f"expected {self.what}", param, ctx)
        return parsed


def count(n: int, noun: str) -> str:
    """``1 item``, ``2 items``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def batch_option(f: F) -> F:
    return click.option(
        "--batch-size",
        type=click.IntRange(1, 100_000),
        default=DEFAULT_BATCH_SIZE,
        show_default=True,
        help="Items per write or read call; memory stays bounded by it.",
    )(f)


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[int] = (),
    show_header: bool = True,
) -> None:
    """A table on stdout (columns in ``right`` right-aligned)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, show_header=show_header)
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console = Console(file=sys.stdout)
    if console.is_terminal:
        console.print(table)
        return
    plain = Console(width=1_000_000, no_color=True, highlight=False)
    with plain.capture() as captured:
        plain.print(table)
    for line in captured.get().splitlines():
        click.echo(line.rstrip())


class _RichProgress:
    """``nighdb.transfer.Progress`` as rich bars on stderr, one per phase."""

    def __init__(self, bars: Any) -> None:
        self._bars = bars
        self._task: Any = None

    def start(self, label: str, total: int | None) -> None:
        self._task = self._bars.add_task(label, total=total, items=0)

    def update(self, done: int, items: int) -> None:
        if self._task is not None:
            self._bars.update(self._task, completed=done, items=items)


@contextmanager
def cli_progress() -> Iterator[Progress]:
    """Progress bars on stderr while the block runs (only when stderr is a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[items]:,} items"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    with bars:
        yield _RichProgress(bars)
