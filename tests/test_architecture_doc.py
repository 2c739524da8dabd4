"""docs/architecture.md stays true: it names every module, and its layers are the contract
that ``lint-imports`` enforces (pyproject.toml)."""

from __future__ import annotations

import re
from pathlib import Path

from importlinter.api import read_configuration

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
PACKAGE = ROOT / "src" / "nighdb"


def _table_row(first_cell: str) -> str:
    for line in DOC.splitlines():
        if line.startswith(f"| `{first_cell}` |"):
            return line
    raise AssertionError(f"docs/architecture.md has no row for {first_cell}")


def test_every_core_module_has_a_row() -> None:
    for module in sorted(PACKAGE.glob("*.py")):
        if module.name != "__init__.py":
            _table_row(module.name)


def test_every_module_of_a_subpackage_is_named_in_its_row() -> None:
    for folder, row in (
        (PACKAGE / "backends" / "sqlite", "backends/sqlite/"),
        (PACKAGE / "backends" / "postgres", "backends/postgres/"),
        (PACKAGE / "backends" / "remote", "backends/remote/"),
        (PACKAGE / "service", "service/"),
    ):
        text = _table_row(row)
        for module in sorted(folder.glob("*.py")):
            if module.name != "__init__.py":
                assert f"`{module.stem}`" in text, f"{row} row does not name {module.stem}"
    _table_row("cli/")


def test_the_layers_in_the_doc_are_the_enforced_contract() -> None:
    config = read_configuration(str(ROOT / "pyproject.toml"))
    contracts = config["contracts_options"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    enforced = [layer.replace("nighdb.", "").replace(" ", "") for layer in layers]
    match = re.search(r"1\. \*\*Layers\.\*\* (.+?)\n2\.", DOC, re.DOTALL)
    assert match, "the layers rule is missing from docs/architecture.md"
    written = [
        part.strip().strip("`").replace(" ", "")
        for part in " ".join(match.group(1).split())
        .rstrip(".")
        .split("\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}")
    ]
    written[-1] = written[-1].split("`")[0]
    assert written == enforced
