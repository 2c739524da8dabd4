"""The package and its tests reach other libraries only through their public APIs.

Each entry is a private name or fragile trick that was replaced (issue #12) and must not come
back: CPython's private JSON encoder, uvicorn's server internals, pytest's private temporary
directory factory, the ``hmac`` module patched for the whole process, and ``open_store``
deciding that an option is unknown from a ``TypeError``'s wording.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Written in pieces so that this file does not match itself.
FORBIDDEN = {
    "c_make" + "_encoder": "json.JSONEncoder (nighdb/jsontext.py)",
    ".servers" + "[": "bind the socket and pass it to uvicorn.Server.run(sockets=...)",
    "_tmp_path" + "_factory": "the tmp_path_factory fixture",
    "keys.hm" + "ac,": "patch nighdb.keys.compare_digest, not the hmac module",
    "unexpected keyword" + ' argument" in': "check options against the signature",
}


def _sources() -> list[Path]:
    return sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")])


@pytest.mark.parametrize("needle", sorted(FORBIDDEN))
def test_no_private_api_or_fragile_trick(needle: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if needle in line
    ]
    assert not found, f"{needle!r} in {found}: use {FORBIDDEN[needle]}"
