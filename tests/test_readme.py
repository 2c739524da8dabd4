"""The README's Python examples run as written: the docs cannot drift from the library.

Every ```python block runs; fragments that need outside resources (a PostgreSQL host) are
written as ```py blocks instead.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

import nighdb
from nighdb.filters import parse_filter

from .reference_filter import matches

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


def test_readme_examples_fail_when_the_expected_error_is_missing() -> None:
    """A ``try``/``except`` in an example needs an ``else`` that raises: otherwise the example
    passes whether or not the library raises the error it shows."""
    for index, block in enumerate(python_blocks()):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Try) and node.handlers:
                assert node.orelse and isinstance(node.orelse[-1], ast.Raise), (
                    f"README python block {index}, line {node.lineno}: a try/except needs "
                    "an else: raise AssertionError(...)"
                )


# -- "Filters in brief": each filter parses and selects what its comment and the prose say --

FILTER_ITEMS: dict[str, dict[str, Any]] = {
    "a": {"genre": "adventure", "age": 12, "lang": "en", "draft": True},
    "b": {"genre": "cozy", "age": 8, "lang": "fr", "draft": False},
    "c": {"genre": "scifi", "age": 17, "lang": "fr"},
    "d": {"genre": "horror", "age": 18, "lang": "fr", "draft": True},
    "e": {"genre": ["cozy"], "age": 9.0, "lang": None},
}
# What each README filter selects from FILTER_ITEMS, keyed by the filter's JSON text.
FILTER_SELECTS = {
    '{"genre": "adventure"}': {"a"},  # eq
    '{"genre": ["cozy", "scifi"]}': {"b", "c"},  # in; an array is a value, not a set: not "e"
    '{"age": {"gte": 9, "lt": 18}}': {"a", "c", "e"},  # operators ANDed; 9.0 == 9; 18 is out
    # "en", or not a draft: an absent (c) or null (e) field fails eq, so $not passes.
    '{"$or": [{"lang": "en"}, {"$not": {"draft": true}}]}': {"a", "b", "c", "e"},
}


def readme_brief_filters() -> list[dict[str, Any]]:
    """The filters of the README's "Filters in brief" block, one expression per line."""
    section = README.read_text(encoding="utf-8").split("### Filters in brief", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert block is not None, "no python block under 'Filters in brief'"
    filters = []
    for node in ast.parse(block.group(1)).body:
        assert isinstance(node, ast.Expr), ast.dump(node)
        spec = ast.literal_eval(node.value)
        assert isinstance(spec, dict), spec
        filters.append(spec)
    return filters


def test_readme_brief_filters_are_the_ones_checked_here() -> None:
    shown = [json.dumps(f) for f in readme_brief_filters()]
    assert shown == list(FILTER_SELECTS), "FILTER_SELECTS must list the README's filters"


def test_readme_brief_filters_select_what_the_prose_says(store: nighdb.Store) -> None:
    store.ensure_collection("t", nighdb.Collection("books", 2))
    items = [{"id": i, "vector": [1.0, 0.5], "metadata": m} for i, m in FILTER_ITEMS.items()]
    store.upsert("t", "books", items)
    for spec in readme_brief_filters():
        assert parse_filter(spec) is not None
        expected = FILTER_SELECTS[json.dumps(spec)]
        # An independent reading of contract §6 agrees with the prose ...
        assert {i for i, m in FILTER_ITEMS.items() if matches(spec, i, m)} == expected, spec
        # ... and so does every backend.
        found = store.search("t", "books", [1.0, 0.5], limit=100, filter=spec)
        assert {m.id for m in found} == expected, spec


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
