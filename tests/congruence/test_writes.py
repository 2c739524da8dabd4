"""One script of writes, reads and failing calls, compared step by step with the reference.

The script runs in a tenant of its own (``WRITER``) on every backend variant: upserts that
overlap, replace or fail part way, deletes, conflicting pins, drops and re-creation, each step
observed and compared with the reference's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection, Item

from .conftest import _reference_script
from .data import BIG, ID_STEMS, REFERENCE, VARIANTS, WRITER
from .outcomes import Call, assert_same, attempt


def write_script() -> list[tuple[str, Call]]:
    """Steps in order, each observed on every backend; the tenant ``WRITER`` is theirs alone."""
    name = "w/é 'x'"
    rng = np.random.default_rng(99)
    vectors = rng.normal(size=(60, 16)).astype(np.float32)
    batch = [
        {
            "id": f"{ID_STEMS[i % len(ID_STEMS)]}-{i}",
            "vector": vectors[i],
            "metadata": {"i": i, "big": 2**62 + i, "odd": bool(i % 2), "tags": ["x", i]},
            "text": f"wörd {i}",
        }
        for i in range(60)
    ]
    ids = [str(item["id"]) for item in batch]
    q = vectors[7] + 0.01

    def view(s: nighdb.Store) -> Any:
        """Everything observable about the collection, in an order every backend shares."""
        return (
            s.count(WRITER, name),
            sorted(s.list_ids(WRITER, name)),
            s.fetch(WRITER, name, [*ids, "dup", "replaced"]),
            s.search(WRITER, name, q, limit=BIG),
        )

    return [
        ("ensure", lambda s: s.ensure_collection(WRITER, Collection(name, 16, "m", "l2"))),
        ("ensure-again", lambda s: s.ensure_collection(WRITER, Collection(name, 0, "", "l2"))),
        (
            "ensure-empty-metric",
            lambda s: s.ensure_collection(WRITER, Collection(name, 16, "m", "")),
        ),
        ("empty-view", view),
        ("upsert-empty", lambda s: s.upsert(WRITER, name, [])),
        ("upsert", lambda s: s.upsert(WRITER, name, batch[:40])),
        ("view", view),
        ("upsert-overlapping", lambda s: s.upsert(WRITER, name, batch[30:])),
        ("view-2", view),
        (
            "upsert-duplicates-last-wins",
            lambda s: s.upsert(
                WRITER,
                name,
                [
                    {"id": "dup", "vector": vectors[0], "metadata": {"v": 1}, "text": "first"},
                    {"id": "dup", "vector": vectors[1], "metadata": {"v": 2}, "text": "second"},
                ],
            ),
        ),
        (
            "replace-drops-metadata-and-text",
            lambda s: s.upsert(WRITER, name, [{"id": ids[3], "vector": vectors[3]}]),
        ),
        (
            "items-as-Item",
            lambda s: s.upsert(WRITER, name, [Item("replaced", vectors[9], {"k": None}, "t")]),
        ),
        ("view-3", view),
        (
            "upsert-bad-third-item",
            lambda s: s.upsert(
                WRITER,
                name,
                [{"id": "n1", "vector": vectors[0]}, batch[0], {"id": "n2", "vector": [1.0]}],
            ),
        ),
        ("view-after-failed-upsert", view),
        ("delete", lambda s: s.delete(WRITER, name, [ids[0], "absent", ids[0], ids[1]])),
        ("delete-none", lambda s: s.delete(WRITER, name, [])),
        ("delete-again", lambda s: s.delete(WRITER, name, [ids[0]])),
        ("delete-invalid", lambda s: s.delete(WRITER, name, [ids[2], ""])),
        ("view-after-delete", view),
        (
            "search_many",
            lambda s: s.search_many(WRITER, name, vectors[:4], limit=3, filter={"odd": True}),
        ),
        (
            "pages",
            lambda s: [s.list_ids(WRITER, name, after=a, limit=9) for a in ("", ids[10], "z")],
        ),
        ("conflict-dims", lambda s: s.ensure_collection(WRITER, Collection(name, 8, "m", "l2"))),
        ("conflict-model", lambda s: s.ensure_collection(WRITER, Collection(name, 16, "n", "l2"))),
        ("conflict-metric", lambda s: s.ensure_collection(WRITER, Collection(name, 16, "m", "ip"))),
        ("list_tenants", lambda s: s.list_tenants()),
        (
            "names-in-byte-order",
            lambda s: [
                s.ensure_collection(WRITER, Collection(n, 2, "", "ip"))
                for n in ("beta", "é", "Alpha", "alpha")
            ],
        ),
        ("list_collections", lambda s: s.list_collections(WRITER)),
        ("drop", lambda s: s.drop_collection(WRITER, name)),
        ("drop-again", lambda s: s.drop_collection(WRITER, name)),
        ("describe-dropped", lambda s: s.describe_collection(WRITER, name)),
        ("count-dropped", lambda s: s.count(WRITER, name)),
        ("search-dropped", lambda s: s.search(WRITER, name, q)),
        (
            "recreate-fresh-pin",
            lambda s: s.ensure_collection(WRITER, Collection(name, 3, "", "cosine")),
        ),
        (
            "recreated-is-empty",
            lambda s: (
                s.count(WRITER, name),
                s.list_ids(WRITER, name),
                s.search(WRITER, name, [1.0, 0.0, 0.0]),
            ),
        ),
        ("list_collections-end", lambda s: s.list_collections(WRITER)),
        (
            "drop-the-rest",
            lambda s: [s.drop_collection(WRITER, n) for n in ("beta", "é", "Alpha", "alpha", name)],
        ),
        ("list_tenants-end", lambda s: s.list_tenants()),
    ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_write_sequence_agrees(stores: dict[str, nighdb.Store], variant: str) -> None:
    steps = write_script()
    if not _reference_script:
        _reference_script.extend(attempt(call, stores[REFERENCE]) for _, call in steps)
    for (label, call), expected in zip(steps, _reference_script, strict=True):
        got = attempt(call, stores[variant])
        assert_same(expected, got, f"step {label!r} on {variant} (expected: {REFERENCE}'s)")
