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
