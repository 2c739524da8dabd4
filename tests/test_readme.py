"""The README's Python examples run as written: the docs cannot drift from the library.

Every ```python block runs; fragments that need outside resources (a PostgreSQL host) are
written as ```py blocks instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_a_library_example() -> None:
    assert any("open_store" in block for block in python_blocks())


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the example writes vectors.db in the working directory
    monkeypatch.delenv("NIGH_STORE", raising=False)
    code = compile(python_blocks()[index], f"README.md[python block {index}]", "exec")
    exec(code, {"__name__": "readme_example"})


def readme_error_table() -> dict[str, str]:
    """The rows of the README's "### Errors" table: class name -> code."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Errors", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \|", section, flags=re.M)
    return dict(rows)


def public_error_classes() -> dict[str, str]:
    """Every error class ``nighdb`` exports (and ``nighdb.errors`` defines), the root aside."""
    import nighdb
    import nighdb.errors

    exported = {
        name: cls
        for name in nighdb.__all__
        if isinstance(cls := getattr(nighdb, name), type) and issubclass(cls, nighdb.NighError)
    }
    defined = {
        name
        for name in nighdb.errors.__all__
        if isinstance(cls := getattr(nighdb.errors, name), type)
        and issubclass(cls, nighdb.NighError)
    }
    assert defined == set(exported), "nighdb must export every error class of nighdb.errors"
    return {name: cls.code for name, cls in exported.items() if cls is not nighdb.NighError}


def test_readme_error_table_lists_exactly_the_public_error_classes() -> None:
    import nighdb.errors

    table = readme_error_table()
    assert table == public_error_classes()
    # ... and each code is the one the service sends and the remote backend maps back.
    assert all(nighdb.errors.lookup(code).__name__ == name for name, code in table.items())
