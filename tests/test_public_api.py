"""``__all__`` is the public API, complete and documented (the rule is in README.md, "The
public API").

The package root: ``nighdb.__all__`` names every public class and function the root exposes
and nothing else (``METRICS`` and ``__version__`` aside); each has its own docstring and is
named in README.md or docs/. The subpackages' ``__all__`` name only attributes that exist.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import nighdb

ROOT = Path(__file__).resolve().parents[1]
CONSTANTS = {"METRICS", "__version__"}  # public values that are neither class nor function
SUBPACKAGES = [
    "nighdb.service",
    "nighdb.backends.sqlite",
    "nighdb.backends.postgres",
]


def _is_public_callable(name: str, value: object) -> bool:
    return (
        not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").split(".")[0] == "nighdb"
    )


def test_all_lists_every_public_name_and_no_other() -> None:
    exposed = {name for name, value in vars(nighdb).items() if _is_public_callable(name, value)}
    assert len(nighdb.__all__) == len(set(nighdb.__all__)), "a name listed twice"
    assert set(nighdb.__all__) - CONSTANTS == exposed
    assert set(nighdb.__all__) >= CONSTANTS


def test_every_name_of_all_exists() -> None:
    for name in nighdb.__all__:
        assert hasattr(nighdb, name), name


def _own_docstring(value: object) -> str:
    doc = vars(value).get("__doc__") if inspect.isclass(value) else inspect.getdoc(value)
    doc = (doc or "").strip()
    # A dataclass without a docstring gets its signature as __doc__: that documents nothing.
    return "" if doc.startswith(f"{getattr(value, '__name__', '')}(") else doc


@pytest.mark.parametrize("name", sorted(set(nighdb.__all__) - CONSTANTS))
def test_every_public_name_has_a_docstring(name: str) -> None:
    assert _own_docstring(getattr(nighdb, name)), f"nighdb.{name} has no docstring"


def _documentation() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


@pytest.mark.parametrize("name", sorted(nighdb.__all__))
def test_every_public_name_is_described_in_the_docs(name: str) -> None:
    # As code: `Name`, `nighdb.Name`, or the start of a call or attribute (`Name(...)`).
    mention = re.compile(rf"`(nighdb\.)?{re.escape(name)}(?![\w])")
    assert mention.search(_documentation()), f"nighdb.{name} is in neither README.md nor docs/"


@pytest.mark.parametrize("module", SUBPACKAGES)
def test_subpackages_all_names_only_existing_attributes(module: str) -> None:
    package = importlib.import_module(module)
    names = package.__all__
    assert names and len(names) == len(set(names)), module
    for name in names:
        assert hasattr(package, name), f"{module}.__all__ names {name!r}, which does not exist"
