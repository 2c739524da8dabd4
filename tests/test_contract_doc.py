"""The project states its contract in its own docs: docs/contract.md.

Every "contract §N" reference in the repository names a section that exists there, nothing
cites a contract document outside the repository, and the error table there lists exactly
the error classes the package defines, with their codes and HTTP statuses.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nighdb
import nighdb.errors

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.toml", "Makefile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed]


def test_every_contract_reference_names_a_section() -> None:
    sections = set(re.findall(r"^## (\d+)\. ", CONTRACT, re.MULTILINE))
    cited: dict[str, list[str]] = {}
    for path in tracked_text_files():
        for number in re.findall(r"contract §(\d+)", path.read_text(encoding="utf-8")):
            cited.setdefault(number, []).append(path.name)
    assert cited, "no contract references found: the pattern is wrong"
    missing = {n: files for n, files in cited.items() if n not in sections}
    assert not missing, f"contract sections cited but absent from docs/contract.md: {missing}"


def test_nothing_cites_an_outside_contract() -> None:
    outside = re.compile("SPEC" + r"(\.md|\b\s*§)")  # split so this file does not match itself
    offenders = [
        str(path.relative_to(ROOT))
        for path in tracked_text_files()
        if outside.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_error_table_lists_every_error_class() -> None:
    section = CONTRACT.split("## 7. Errors", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \| (\d+) \|", section, re.MULTILINE)
    documented = {name: (code, int(status)) for name, code, status in rows}
    defined = {
        name: (cls.code, cls.http_status)
        for name in nighdb.errors.__all__
        if isinstance(cls := getattr(nighdb.errors, name), type)
        and issubclass(cls, nighdb.NighError)
        and cls is not nighdb.NighError
    }
    assert documented == defined
