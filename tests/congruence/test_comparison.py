"""The congruence comparison can fail: each kind of difference it is meant to catch makes
``assert_same`` fail (an order, an id, a distance, 12 against 12.0, an error's details...)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Item, Match

from .outcomes import Outcome, assert_same, attempt


def test_comparison_detects_each_kind_of_difference() -> None:
    """Each kind of difference the tests above look for makes ``assert_same`` fail."""
    a = Match("a", 0.25, 0.75, {"n": 12, "s": "é", "z": -0.0}, "text")
    b = Match("b", 0.25, 0.75, {}, "")
    reference = attempt(lambda: [a, b])
    differences: dict[str, Any] = {
        "order": [b, a],
        "missing": [a],
        "extra": [a, b, b],
        "id": [Match("A", *list(vars(a).values())[1:]), b],
        "distance": [Match("a", 0.25 + 1e-7, 0.75, a.metadata, a.text), b],
        "score": [Match("a", 0.25, 0.75 - 1e-7, a.metadata, a.text), b],
        "int-vs-float": [Match("a", 0.25, 0.75, {**a.metadata, "n": 12.0}, a.text), b],
        "zero-sign": [Match("a", 0.25, 0.75, {**a.metadata, "z": 0.0}, a.text), b],
        "metadata": [Match("a", 0.25, 0.75, {"n": 12, "s": "e\u0301", "z": -0.0}, a.text), b],
        "text": [Match("a", 0.25, 0.75, a.metadata, "Text"), b],
    }
    for label, changed in differences.items():
        with pytest.raises(AssertionError):
            assert_same(reference, attempt(lambda c=changed: c), label)
    assert_same(reference, attempt(lambda: [Match("a", 0.25 + 1e-12, 0.75, a.metadata, a.text), b]))

    def raising(err: nighdb.NighError) -> Outcome:
        def call() -> None:
            raise err

        return attempt(call)

    expected = raising(nighdb.DimensionMismatchError("c", 3, 2))
    for label, err in {
        "class": nighdb.InvalidArgumentError("c"),
        "details": nighdb.DimensionMismatchError("c", 3, 4),
        "collection": nighdb.DimensionMismatchError("d", 3, 2),
        "message": nighdb.DimensionMismatchError("c", 3, 2, "another message"),
    }.items():
        with pytest.raises(AssertionError):
            assert_same(expected, raising(err), label)
    with pytest.raises(AssertionError):
        assert_same(expected, attempt(lambda: []), "ok-vs-error")
    item = Item("i", np.array([1.0, 2.0], np.float32), {"k": 1}, "t")
    for label, other in {
        "vector-bits": Item("i", np.array([1.0, np.nextafter(np.float32(2), 3)], np.float32)),
        "vector-dtype": Item("i", np.array([1.0, 2.0], np.float64), {"k": 1}, "t"),
    }.items():
        with pytest.raises(AssertionError):
            assert_same(attempt(lambda: [item]), attempt(lambda o=other: [o]), label)
