"""Canonical JSON text of plain JSON data: compact, UTF-8 (no ASCII escaping), finite numbers.

It is the form metadata is stored in and compared by, on every backend: exactly
``json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)``, so a float
is written as its ``repr`` (``1e-05``, ``1e+300``), which the PostgreSQL filter document relies
on (``backends/postgres/filter.py``). It lives apart from validation so that the backends'
writers and filter code can use it without importing the item rules.

Why the standard library's encoder (README, "Decisions"): orjson and msgspec encode typical
metadata 5-7x faster, but both write some floats differently from ``repr`` (``0.00001``,
``1e-7``, ``1e300``), which would change the stored text of existing data, and both would be a
compiled core dependency. One ``JSONEncoder`` is built once with the options instead of per
call (what ``json.dumps`` with options does).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidArgumentError

__all__ = ["check_unicode", "decode_json", "encode_json"]

# No circular check: validated metadata is a fresh tree (``_plain_json``) or a flat dict of
# scalars (``_flat_metadata``), so it has no cycles.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


def encode_json(value: object) -> str:
    """The canonical JSON text of plain JSON data: what ``ItemBatch.metadata_json`` holds."""
    return _ENCODER.encode(value)


def _no_constants(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def decode_json(text: str | bytes) -> Any:
    """Parse JSON text, refusing the ``NaN``/``Infinity`` tokens Python's parser would accept.

    Raises ``ValueError`` (or ``RecursionError`` for absurd nesting); each caller words the
    error for its own input (a request body, a file line, a command option).
    """
    return json.loads(text, parse_constant=_no_constants)


def check_unicode(what: str, text: str) -> None:
    """``invalid_argument`` unless ``text`` is valid Unicode: a lone surrogate is a legal
    Python ``str`` but no database can store or compare it, and UTF-8 cannot encode it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(f"{what} is not valid Unicode text ({exc.reason})") from exc
