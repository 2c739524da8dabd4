"""Request bodies parsed at a cost bounded by what the route uses (contract §16).

A body is a JSON object whose known fields the route reads; unknown fields are ignored
(contract §12). Parsing it whole with ``json.loads`` would build every unknown value first:
60 MB of ``[],`` under an unknown field is twenty million lists, over a gigabyte of memory,
for nothing. So parsing goes in two steps:

1. msgspec checks the whole body is valid JSON and returns the top-level members as
   ``Raw`` slices of the body: no value is built, unknown members cost only the scan.
2. Only the route's own fields are parsed into Python values, by the standard library's
   parser with a hook that refuses duplicate keys at any depth (``{"ids": 1, "ids": 2}`` is
   ambiguous: parsers disagree on which one wins, so it is ``invalid_argument``).

A top-level duplicate leaves one ``Raw`` (the last), so it is found by counting the field's
key token in the body (in any spelling, ``"\\u0069ds"`` too): almost always once. Only when
a known field's key appears more than once (a duplicate, or the same word as a key deeper
down, e.g. metadata ``{"ids": …}``) is the body walked member by member to tell the two
apart, each unknown member's value built and dropped alone.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from ..errors import InvalidArgumentError

__all__ = ["parse_object"]

_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
# The exact path builds each unknown member's value once; past this many bytes of them it
# refuses instead (only a body that repeats a field's key can get there).
_EXACT_PATH_BUDGET = 1024 * 1024
_SCANNER = json.JSONDecoder()


def _no_constants(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"the key {repeated!r} appears more than once in one object")
    return data


def _value(raw: bytes | memoryview) -> Any:
    return json.loads(bytes(raw), object_pairs_hook=_unique, parse_constant=_no_constants)


def _invalid(exc: Exception) -> InvalidArgumentError:
    return InvalidArgumentError(f"the request body is not valid JSON: {exc}")


def parse_object(body: bytes, fields: Iterable[str]) -> dict[str, Any]:
    """The body's ``fields`` that are present, as Python values; 400 for anything else.

    An empty body is ``{}``. Other members are checked to be JSON and otherwise skipped.
    """
    if not body.strip():
        return {}
    try:
        members = _MEMBERS.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidArgumentError("the request body must be a JSON object") from exc
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _invalid(exc) from exc
    wanted = [name for name in fields if name in members]
    try:
        out = {name: _value(members[name]) for name in wanted}
        for name in wanted:
            repeated = len(_key_token(name).findall(body)) > 1
            if repeated and _top_level_count(body, name, members, wanted) > 1:
                raise ValueError(f"the key {name!r} appears more than once in one object")
    except (ValueError, RecursionError) as exc:
        raise _invalid(exc) from exc
    return out


@functools.lru_cache(maxsize=64)
def _key_token(name: str) -> re.Pattern[bytes]:
    """The string token ``"name"`` in any spelling JSON allows (each letter may be escaped)."""
    letters = [
        rb"(?:" + re.escape(c.encode()) + rb"|\\u(?i:" + f"{ord(c):04x}".encode() + rb"))"
        for c in name
    ]
    return re.compile(rb'"' + b"".join(letters) + rb'"')


def _top_level_count(
    body: bytes, name: str, members: dict[str, msgspec.Raw], known: list[str]
) -> int:
    """How often ``name`` is a member of the body's top-level object (the rare, exact path).

    The body is known to be a valid JSON object. Keys are decoded by the standard scanner, so
    ``"\\u0069ds"`` counts as ``ids``; each value is built alone and dropped at once.
    """
    if len(body) - sum(len(members[k]) for k in known) > _EXACT_PATH_BUDGET:
        raise ValueError(
            f"the key {name!r} appears more than once, and over {_EXACT_PATH_BUDGET} bytes "
            "of other fields come with it; send each field once and leave out unknown fields"
        )
    text = body.decode("utf-8")
    pos = _skip(text, text.index("{") + 1)
    count = 0
    while text[pos] != "}":
        key, pos = _SCANNER.raw_decode(text, pos)
        count += key == name
        pos = _skip(text, _skip(text, pos) + 1)  # past the colon
        _, pos = _SCANNER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
    return count


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos
