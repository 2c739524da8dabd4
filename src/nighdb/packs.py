"""Packs: declarative collections (contract §11).

A pack ``NAME.jsonl`` (lines ``{id, vector, metadata?, text?, model?, metric?}``, after an
optional collection header as ``nigh export`` writes it) is the *desired* content of
collection NAME. ``apply_pack`` makes the collection hold exactly that: it ensures the
collection (dimensions from the header or the first vector, model and metric from the header
or the first line naming one, cosine otherwise), compares the pack with the stored items,
writes only the added and changed ones, then deletes the stored ids the pack does not list.
``diff_pack`` says what an apply would change, without changing anything; both use one
comparison, so apply's report and diff's counts agree. Lines follow the one line rule of
``nighdb.lines`` (shared with import): an unknown top-level field is refused.

Everything that can be checked is checked before the first write (``plan_pack``): JSON,
fields, ids (present, valid, unique), vectors (non-empty, one length), one model, one
metric, the pin against the stored collection, and every item rule of contract §1/§4 through the
store's own validation. So a bad pack changes nothing and never creates its collection.

Not atomic: the ``Store`` interface has no transaction spanning calls, so an apply is
batched upserts (each all or nothing) followed by batched deletes. Interrupted, the
collection holds the new version of some items and may still hold ids the pack dropped;
re-running the apply converges, because upserts and deletes are idempotent. Packs never drop
collections; an empty pack empties an existing collection and keeps it (it creates none).

A pack is read into memory whole (it is validated whole); bulk loads belong to ``import``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DimensionMismatchError, InvalidArgumentError, NighError
from .lines import Header, Record, jsonl_records, line_pin
from .models import Collection
from .store import Store
from .transfer import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_SIZE,
    SILENT,
    Progress,
    iter_batches,
    locate,
    prefixed,
)
from .validation import (
    ItemBatch,
    check_collection,
    check_collection_name,
    check_compatible,
    check_id,
    check_new_collection,
    check_tenant,
    validate_items,
)

__all__ = [
    "ApplyResult",
    "Pack",
    "PackDiff",
    "PackPlan",
    "apply_pack",
    "diff_pack",
    "pack_paths",
    "plan_pack",
    "read_pack",
]

SUFFIX = ".jsonl"


@dataclass(frozen=True)
class Pack:
    """A parsed pack: its items in file order, and the pin its lines ask for."""

    path: Path
    name: str
    records: list[Record]
    dimensions: int  # 0 for an empty pack
    model: str  # "" when no line names one
    metric: str | None  # None when no line names one
    text_analyzer: str = ""  # "" when the header names none (or there is no header)

    @property
    def ids(self) -> list[str]:
        return [str(r.item["id"]) for r in self.records]


def pack_paths(path: Path) -> list[Path]:
    """The packs at ``path``: the file itself, or a directory's ``*.jsonl`` in name order."""
    if path.is_dir():
        return sorted(
            (p for p in path.iterdir() if p.name.endswith(SUFFIX) and p.is_file()),
            key=lambda p: p.name,
        )
    if not path.name.endswith(SUFFIX) or len(path.name) == len(SUFFIX):
        raise InvalidArgumentError(f"{path}: a pack is a file NAME{SUFFIX} (NAME: the collection)")
    return [path]


def read_pack(path: Path, name: str | None = None) -> Pack:
    """Parse and check a pack file. ``name`` defaults to the file name without ``.jsonl``."""
    name = check_collection_name(path.name.removesuffix(SUFFIX) if name is None else name)
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"{source}: cannot read the pack ({exc.strerror})") from None
    records: list[Record] = []
    first_line: dict[str, int] = {}
    dims = 0
    model: tuple[str, int] | None = None
    metric: tuple[str, int] | None = None
    header: Header | None = None
    for record in jsonl_records(data.splitlines(), source):
        number, item = record.line, record.item
        where = f"{source} line {number}"
        if record.header is not None:  # the first line: the pin an export wrote
            header = record.header
            dims = header.dimensions
            model = (header.model, number) if header.model else None
            metric = (header.metric, number) if header.metric else None
            continue
        item_id = _checked(where, check_id, item.get("id"))
        if item_id in first_line:
            raise InvalidArgumentError(
                f"{where}: duplicate id {item_id!r} (first on line {first_line[item_id]})"
            )
        first_line[item_id] = number
        vector = item.get("vector")
        if not isinstance(vector, list) or not vector:
            raise InvalidArgumentError(
                f"{where}: item {item_id!r} needs a vector: a non-empty array of numbers"
            )
        if not dims:
            dims = len(vector)
        elif len(vector) != dims:
            first = f"the header (line {header.line})" if header else f"line {records[0].line}"
            raise InvalidArgumentError(
                f"{where}: item {item_id!r} has a {len(vector)}-dimensional vector; the "
                f"pack's dimensions, from {first}, are {dims}"
            )
        line_model, line_metric = line_pin(record, where)
        model = _one_value(where, "model", line_model, model, number)
        metric = _one_value(where, "metric", line_metric, metric, number)
        records.append(record)
    return Pack(
        path,
        name,
        records,
        dims if records else 0,
        model[0] if model else "",
        metric[0] if metric else None,
        header.text_analyzer if header is not None else "",
    )


def _checked(where: str, check: Callable[[object], str], value: object) -> str:
    try:
        return check(value)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(exc.reason, f"{where}: {exc.reason}") from None


def _one_value(
    where: str, key: str, value: str | None, seen: tuple[str, int] | None, line: int
) -> tuple[str, int] | None:
    """The pack's model (or metric): the first line naming one decides; others must agree."""
    if value is None:
        return seen
    if seen is not None and value != seen[0]:
        raise InvalidArgumentError(
            f"{where}: {key} {value!r} differs from {seen[0]!r} (line {seen[1]}); a pack is "
            "one collection, one vector space"
        )
    return seen or (value, line)


@dataclass(frozen=True)
class PackPlan:
    """A pack checked against the store: what applying it starts from and ensures."""

    pack: Pack
    tenant: str
    existing: Collection | None
    pin: Collection | None  # None: an empty pack for an absent collection (nothing to do)
    batch: ItemBatch | None  # the validated items (None for an empty pack)


def plan_pack(store: Store, tenant: str, pack: Pack) -> PackPlan:
    """Validate ``pack`` in full against the store; raises before any write if it is bad."""
    tenant = check_tenant(tenant)
    existing = store.describe_collection(tenant, pack.name)
    if not pack.records:
        return PackPlan(pack, tenant, existing, existing, None)
    metric = pack.metric or (existing.metric if existing else "cosine")
    with _naming(pack):
        # A pack without a header analyzer keeps the stored one; a new collection gets plain.
        wanted = check_collection(
            Collection(pack.name, pack.dimensions, pack.model, metric, pack.text_analyzer)
        )
        if existing is not None:
            check_compatible(existing, wanted)
        else:
            check_new_collection(wanted)
    try:
        batch = validate_items(pack.name, pack.dimensions, metric, [r.item for r in pack.records])
    except (InvalidArgumentError, DimensionMismatchError) as exc:
        raise locate(exc, wanted, pack.records, str(pack.path)) from None
    return PackPlan(pack, tenant, existing, existing or wanted, batch)


@contextlib.contextmanager
def _naming(pack: Pack) -> Iterator[None]:
    """A store's refusal (a conflict, say) names the pack that caused it."""
    try:
        yield
    except NighError as exc:
        raise prefixed(exc, f"pack {pack.path}") from None


@dataclass(frozen=True)
class PackDiff:
    """What applying a pack would change, ids in byte order."""

    collection: str
    exists: bool
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "exists": self.exists,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "counts": {
                "added": len(self.added),
                "removed": len(self.removed),
                "changed": len(self.changed),
                "unchanged": self.unchanged,
            },
        }


def diff_pack(
    store: Store, tenant: str, pack: Pack, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> PackDiff:
    """Compare a pack with the stored collection: ids to add, remove, and change (a different
    vector, bit for bit, or different metadata or text)."""
    return _compare(store, plan_pack(store, tenant, pack), batch_size)


def _compare(store: Store, plan: PackPlan, batch_size: int) -> PackDiff:
    """The one comparison behind ``diff`` and ``apply``: stored items, a page at a time,
    against the validated pack."""
    pack = plan.pack
    wanted = {item_id: i for i, item_id in enumerate(pack.ids)}
    if plan.existing is None:
        return PackDiff(pack.name, False, sorted(wanted))
    removed: list[str] = []
    changed: list[str] = []
    unchanged = 0
    seen: set[str] = set()
    for items in iter_batches(store, plan.tenant, pack.name, batch_size=batch_size):
        for item in items:
            i = wanted.get(item.id)
            if i is None:
                removed.append(item.id)
                continue
            seen.add(item.id)
            assert plan.batch is not None
            if _same(plan.batch, i, item.vector, item.metadata, item.text):
                unchanged += 1
            else:
                changed.append(item.id)
    added = sorted(set(wanted) - seen)
    return PackDiff(pack.name, True, added, removed, changed, unchanged)


def _canonical(metadata: Any) -> str:
    # Types matter (1, 1.0 and true differ); key order does not.
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False)


def _same(batch: ItemBatch, i: int, vector: Any, metadata: Any, text: str) -> bool:
    stored = np.asarray(vector, dtype="<f4").tobytes()
    return (
        stored == batch.vectors[i].astype("<f4").tobytes()
        and batch.texts[i] == text
        and _canonical(json.loads(batch.metadata_json[i])) == _canonical(metadata)
    )


@dataclass(frozen=True)
class ApplyResult:
    """What an apply did: items written because they were new or different, items deleted,
    and items left alone because they already were as the pack says."""

    collection: str
    path: str
    created: bool
    added: int
    changed: int
    deleted: int
    unchanged: int
    skipped: bool = False  # an empty pack for a collection that does not exist

    @property
    def upserted(self) -> int:
        """Items written: ``added + changed`` (unchanged items are not rewritten)."""
        return self.added + self.changed

    def summary(self) -> str:
        if self.skipped:
            return "empty pack and no such collection: nothing to do"
        made = "created, " if self.created else ""
        return (
            f"{made}{self.added} added, {self.changed} changed, {self.deleted} deleted, "
            f"{self.unchanged} unchanged"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pack": self.path,
            "collection": self.collection,
            "created": self.created,
            "added": self.added,
            "changed": self.changed,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "upserted": self.upserted,
            "skipped": self.skipped,
        }


def apply_pack(
    store: Store,
    tenant: str,
    pack: Pack,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Progress = SILENT,
) -> ApplyResult:
    """Make collection ``pack.name`` hold exactly the pack's items (see the module doc):
    write the added and changed items, delete the removed ones, leave the rest alone."""
    plan = plan_pack(store, tenant, pack)
    if plan.pin is None:  # an empty pack never creates its collection
        return ApplyResult(pack.name, str(pack.path), False, 0, 0, 0, 0, skipped=True)
    tenant = plan.tenant
    diff = _compare(store, plan, batch_size)
    write = set(diff.added) | set(diff.changed)
    todo = [r for r in pack.records if r.item["id"] in write]
    progress.start(f"{tenant}/{pack.name}", len(todo))
    with _naming(pack):
        if pack.records:
            store.ensure_collection(tenant, plan.pin)
        upserted = 0
        for chunk in _chunks(todo, batch_size, batch_bytes):
            upserted += store.upsert(tenant, pack.name, [r.item for r in chunk])
            progress.update(upserted, upserted)
        deleted = _delete(store, tenant, pack.name, diff.removed, batch_size)
    return ApplyResult(
        pack.name,
        str(pack.path),
        plan.existing is None,
        len(diff.added),
        len(diff.changed),
        deleted,
        diff.unchanged,
    )


def _chunks(records: list[Record], size: int, max_bytes: int) -> Iterator[list[Record]]:
    start = 0
    while start < len(records):
        stop, nbytes = start, 0
        while stop < len(records) and stop - start < size and nbytes < max_bytes:
            nbytes += records[stop].nbytes
            stop += 1
        yield records[start:stop]
        start = stop


def _delete(store: Store, tenant: str, name: str, ids: list[str], batch_size: int) -> int:
    """Delete the stored ids the pack does not list, ``batch_size`` at a time. An id written by
    someone else after the comparison is left for the next apply."""
    deleted = 0
    for start in range(0, len(ids), batch_size):
        deleted += store.delete(tenant, name, ids[start : start + batch_size])
    return deleted
