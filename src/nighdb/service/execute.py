"""What one worker slot runs for a request: parse, call the store, encode the answer.

The same function serves both ways of running requests (``nigh serve`` runs them in worker
processes, ``workers.py``; ``--threads`` and ``create_app(store)`` in worker threads), so
both answer byte for byte alike.
"""

from __future__ import annotations

from ..wire import dumps
from .routes import Call, RouteSpec

__all__ = ["encode_in_slices", "run_route"]


def run_route(spec: RouteSpec, call: Call) -> tuple[int, bytes]:
    """``spec``'s operation on ``call``: the status and the encoded JSON answer."""
    status, payload = spec.operation(call)
    return status, encode_in_slices(payload)


_SLICE = 256
"""List elements encoded by one ``dumps`` call (about a millisecond for matches)."""


def encode_in_slices(payload: object) -> bytes:
    """``dumps(payload)``, byte for byte, with long lists encoded a slice at a time.

    The C JSON encoder holds the GIL for the whole of one call: a search_many answer of
    50,000 matches (5 MB) is about 200 ms during which no other thread runs, so every other
    tenant's request on the node would wait for it. Slices give the interpreter a point to
    switch threads every millisecond or so (contract §16: other tenants keep their latency).
    """
    parts: list[bytes] = []
    _encode_into(payload, parts)
    return b"".join(parts)


def _big(value: object) -> bool:
    return isinstance(value, (list, dict)) and len(value) > _SLICE


def _encode_into(value: object, parts: list[bytes]) -> None:
    if isinstance(value, dict) and any(_big(v) for v in value.values()):
        parts.append(b"{")
        for n, (key, item) in enumerate(value.items()):
            parts.append(b"," if n else b"")
            parts.append(dumps(key) + b":")
            _encode_into(item, parts)
        parts.append(b"}")
    elif isinstance(value, list) and (len(value) > _SLICE or any(_big(v) for v in value)):
        parts.append(b"[")
        for start in range(0, len(value), _SLICE):
            chunk = value[start : start + _SLICE]
            if start:
                parts.append(b",")
            if any(_big(v) for v in chunk):
                for n, item in enumerate(chunk):
                    parts.append(b"," if n else b"")
                    _encode_into(item, parts)
            else:
                parts.append(dumps(chunk)[1:-1])
        parts.append(b"]")
    else:
        parts.append(dumps(value))
