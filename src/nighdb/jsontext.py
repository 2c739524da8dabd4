"""Canonical JSON text of plain JSON data: compact, UTF-8 (no ASCII escaping), finite numbers.

It is the form metadata is stored in and compared by, on every backend. It lives apart from
validation so that the backends' writers and filter code can use it without importing the
item rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import InvalidArgumentError

__all__ = ["check_unicode", "decode_json", "encode_json"]


def _metadata_encoder() -> Callable[[object], str]:
    """``json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)``, fast.

    ``json.dumps`` with options builds a ``JSONEncoder`` per call, and ``encode`` wraps the C
    encoder in two Python calls: together about 2 µs of a flat item's 3 µs. This calls the
    C encoder ``json`` itself uses directly (about 0.4 µs), built once with the same options,
    and falls back to a ``JSONEncoder`` where that encoder is missing or does not reproduce
    it. No circular check: validated metadata is a fresh tree (``_plain_json``) or a flat
    dict of scalars (``_flat_metadata``).
    """
    encoder = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return encoder.encode

    def unencodable(value: object) -> object:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    try:
        iterencode = make(
            None, unencodable, json.encoder.encode_basestring, None, ":", ",", False, False, False
        )

        def encode(value: object) -> str:
            return "".join(iterencode(value, 0))

        sample: dict[str, object] = {
            "a": [1, -0.0, 1e300, 2**63 - 1, True, None, {}],
            'é\n\u2028"': "x\ud800",
        }
        if encode(sample) == encoder.encode(sample):
            return encode
    except Exception:  # pragma: no cover - another Python's private encoder: use the public one
        pass
    return encoder.encode  # pragma: no cover


_ENCODE = _metadata_encoder()


def encode_json(value: object) -> str:
    """The canonical JSON text of plain JSON data: what ``ItemBatch.metadata_json`` holds."""
    return _ENCODE(value)


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
