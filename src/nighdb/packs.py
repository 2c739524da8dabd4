"""Packs: declarative collections (contract §11).

A pack ``NAME.jsonl`` (lines ``{id, vector, metadata?, text?, model?, metric?}``) is the
*desired* content of collection NAME. ``apply_pack`` makes the collection hold exactly that:
it ensures the collection (dimensions from the first vector, model and metric from the first
line naming one, cosine otherwise), upserts every line, then deletes the stored ids the pack
does not list. ``diff_pack`` says what an apply would change, without changing anything.

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
from .models import Collection
from .store import Store
from .transfer import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_SIZE,
    SILENT,
    Progress,
    Record,
    iter_batches,
    locate,
    parse_line,
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
    normalize_metric,
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
_FIELDS = frozenset({"id", "vector", "metadata", "text", "model", "metric"})


@dataclass(frozen=True)
class Pack:
    """A parsed pack: its items in file order, and the pin its lines ask for."""

    path: Path
    name: str
    records: list[Record]
    dimensions: int  # 0 for an empty pack
    model: str  # "" when no line names one
    metric: str | None  # None when no line names one

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
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{source} line {number}"
        item = parse_line(raw, where)
        unknown = sorted(set(item) - _FIELDS)
        if unknown:
            raise InvalidArgumentError(
                f"{where}: unknown field {unknown[0]!r}; a pack line has "
                "id, vector, metadata, text, model and metric"
            )
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
        if not records:
            dims = len(vector)
        elif len(vector) != dims:
            raise InvalidArgumentError(
                f"{where}: item {item_id!r} has a {len(vector)}-dimensional vector; the "
                f"pack's first vector (line {records[0].line}) has {dims}"
            )
        model = _one_value(where, "model", item, model, number, str)
        metric = _one_value(where, "metric", item, metric, number, normalize_metric)
        records.append(Record(number, item, len(raw)))
    return Pack(
        path,
        name,
        records,
        dims,
        model[0] if model else "",
        metric[0] if metric else None,
    )


def _checked(where: str, check: Callable[[object], str], value: object) -> str:
    try:
        return check(value)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(exc.reason, f"{where}: {exc.reason}") from None


def _one_value(
    where: str,
    key: str,
    item: dict[str, Any],
    seen: tuple[str, int] | None,
    line: int,
    normal: Callable[[object], str],
) -> tuple[str, int] | None:
    """The pack's model (or metric): the first line naming one decides; others must agree."""
    if key not in item:
        return seen
    value = item[key]
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{where}: {key} must be a string")
    value = _checked(where, normal, value)
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
        wanted = check_collection(Collection(pack.name, pack.dimensions, pack.model, metric))
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
    plan = plan_pack(store, tenant, pack)
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
    collection: str
    path: str
    created: bool
    upserted: int
    deleted: int
    skipped: bool = False  # an empty pack for a collection that does not exist

    def to_json(self) -> dict[str, Any]:
        return {
            "pack": self.path,
            "collection": self.collection,
            "created": self.created,
            "upserted": self.upserted,
            "deleted": self.deleted,
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
    """Make collection ``pack.name`` hold exactly the pack's items (see the module doc)."""
    plan = plan_pack(store, tenant, pack)
    if plan.pin is None:  # an empty pack never creates its collection
        return ApplyResult(pack.name, str(pack.path), False, 0, 0, skipped=True)
    tenant = plan.tenant
    progress.start(f"{tenant}/{pack.name}", len(pack.records))
    with _naming(pack):
        if pack.records:
            store.ensure_collection(tenant, plan.pin)
        upserted = 0
        for chunk in _chunks(pack.records, batch_size, batch_bytes):
            upserted += store.upsert(tenant, pack.name, [r.item for r in chunk])
            progress.update(upserted, upserted)
        deleted = _delete_absent(store, tenant, pack.name, set(pack.ids), batch_size)
    return ApplyResult(pack.name, str(pack.path), plan.existing is None, upserted, deleted)


def _chunks(records: list[Record], size: int, max_bytes: int) -> Iterator[list[Record]]:
    start = 0
    while start < len(records):
        stop, nbytes = start, 0
        while stop < len(records) and stop - start < size and nbytes < max_bytes:
            nbytes += records[stop].nbytes
            stop += 1
        yield records[start:stop]
        start = stop


def _delete_absent(store: Store, tenant: str, name: str, keep: set[str], batch_size: int) -> int:
    """Delete the stored ids not in ``keep``, a page at a time (paging by id is stable under
    these deletes: the cursor is an id, not an offset)."""
    deleted = 0
    after: str | None = None
    while True:
        page = store.list_ids(tenant, name, after=after, limit=batch_size)
        if not page:
            return deleted
        doomed = [i for i in page if i not in keep]
        if doomed:
            deleted += store.delete(tenant, name, doomed)
        after = page[-1]
