"""Soak mode and the figures every reliability test reports.

``--soak`` (or ``NIGH_SOAK=1``, what ``make soak`` sets) switches every test to its long
version through ``scale(short, long)``; ``make test`` runs the short ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_FIGURES: dict[str, dict[str, Any]] = {}
_SOAK_ENV = "NIGH_SOAK"
_BASETEMP = pytest.StashKey[Path]()
"""The session's base temporary directory, where the figures file goes by default."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="run the long (soak) versions of tests/reliability (also: NIGH_SOAK=1)",
    )


def soak_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--soak")) or os.environ.get(_SOAK_ENV, "") not in ("", "0")


class Scale:
    """Picks the short or the long figure of a test."""

    def __init__(self, soak: bool) -> None:
        self.soak = soak

    def __call__(self, short: int, long: int) -> int:
        return long if self.soak else short

    def seconds(self, short: float, long: float) -> float:
        return long if self.soak else short


@pytest.fixture(scope="session")
def scale(pytestconfig: pytest.Config) -> Scale:
    return Scale(soak_mode(pytestconfig))


class Figures:
    """Numbers of one test, merged into the session's figures under the test's name."""

    def __init__(self, name: str) -> None:
        self._entry = _FIGURES.setdefault(name, {})

    def add(self, key: str, amount: float = 1) -> None:
        self._entry[key] = self._entry.get(key, 0) + amount

    def set(self, key: str, value: Any) -> None:
        self._entry[key] = value


@pytest.fixture(scope="session")
def _basetemp(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keeps the base temporary directory for ``pytest_terminal_summary``, which gets no
    fixtures, in the config's stash (both public pytest APIs)."""
    pytestconfig.stash[_BASETEMP] = tmp_path_factory.getbasetemp()


@pytest.fixture
def figures(request: pytest.FixtureRequest, scale: Scale, _basetemp: None) -> Iterator[Figures]:
    name = request.node.nodeid.split("tests/reliability/", 1)[-1]
    record = Figures(name)
    record.set("mode", "soak" if scale.soak else "short")
    yield record


def _figures_path(config: pytest.Config) -> Path:
    explicit = os.environ.get("NIGH_RELIABILITY_FIGURES")
    if explicit:
        return Path(explicit)
    return config.stash.get(_BASETEMP, Path.cwd()) / "reliability-figures.json"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _FIGURES:
        return
    path = _figures_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_FIGURES, indent=2, sort_keys=True) + "\n")
    terminalreporter.section("reliability figures")
    for name in sorted(_FIGURES):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(_FIGURES[name].items()))
        terminalreporter.write_line(f"{name}: {shown}")
    terminalreporter.write_line(f"(written to {path})")
