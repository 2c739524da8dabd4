"""What a call did on one backend, and the comparison of two such outcomes.

``attempt`` records a result or an error as plain data; ``assert_same`` compares two records:
ids and their order exactly, distances and scores within 1e-9 relative (float64 rounding of
the same sum taken in another order), metadata and text exactly (as canonical JSON, so 12 ≠
12.0 and -0.0 ≠ 0.0; object key order is not part of the contract), fetched vectors bit for
bit, and an error's class, code, details and message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection, Item, Match

Call = Callable[[nighdb.Store], Any]


Outcome = tuple[Any, ...]


def canonical(value: Any) -> str:
    """JSON text that tells 12 from 12.0 and -0.0 from 0.0 (``==`` does not)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def plain(value: Any) -> Any:
    """A result as plain data that ``assert_same`` can walk."""
    if isinstance(value, Match):
        return {
            "id": value.id,
            "distance": value.distance,
            "score": value.score,
            "metadata": canonical(value.metadata),
            "text": value.text,
        }
    if isinstance(value, Item):
        vector = np.asarray(value.vector)
        return {
            "id": value.id,
            "vector": f"{vector.dtype}:{vector.tobytes().hex()}",  # bit for bit
            "metadata": canonical(dict(value.metadata)),
            "text": value.text,
        }
    if isinstance(value, Collection):
        return {"collection": asdict(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def attempt(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """What ``call(*args, **kwargs)`` did: ``("ok", result)`` or ``("error", class, code,
    details, message)``."""
    try:
        value = call(*args, **kwargs)
    except nighdb.NighError as err:
        return ("error", type(err).__name__, err.code, plain(dict(err.details)), err.message)
    return ("ok", plain(value))


def assert_same(expected: Any, got: Any, where: str = "") -> None:
    """``got`` equals ``expected``: floats within 1e-9 relative, everything else exactly."""
    if isinstance(expected, float) and isinstance(got, float):
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), f"{where}: {got} != {expected}"
        return
    assert type(got) is type(expected), f"{where}: {got!r} != {expected!r}"
    if isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{where}: {len(got)} items != {len(expected)}\n{got!r}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            assert_same(e, g, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert got.keys() == expected.keys(), f"{where}: keys {got.keys()} != {expected.keys()}"
        for key in expected:
            assert_same(expected[key], got[key], f"{where}.{key}")
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"
