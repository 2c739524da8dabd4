"""``migrate``: copy every tenant, collection pin and item from one store to another, e.g. a
deployment that outgrew one machine moving from SQLite to PostgreSQL without re-embedding.

It streams: each collection is read a page at a time (``list_ids`` + ``fetch``) and upserted
into the destination, so memory stays bounded whatever the size. It is idempotent rather
than transactional: upserts replace by id, so re-running an interrupted migration finishes
it without duplicates. Into a non-empty destination it merges: every pin is checked first,
and a collection whose pin differs there raises that collection's ``CollectionConflictError``
before anything at all is written; items only the destination has are kept. API keys are
copied too when both stores are databases (a ``KeyRegistry``); a service is not one.

At the end every copied collection is verified: each source id must be at the destination
(both id lists are walked side by side in byte order). Otherwise ``MigrationVerificationError``
(e.g. the source was written during the run: stop its writers, then run migrate again).
What the ``Store`` interface does not carry is not copied: PostgreSQL HNSW indexes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import CollectionConflictError, NighError
from .keys import KeyRegistry
from .models import Collection
from .store import Store, id_pages
from .transfer import DEFAULT_BATCH_SIZE, SILENT, Progress, iter_batches, prefixed
from .validation import check_compatible, check_tenant

__all__ = ["CollectionCopy", "MigrationReport", "MigrationVerificationError", "migrate"]


class MigrationVerificationError(NighError):
    """The destination lacks items the source has after a migration."""

    code = "verification_failed"


@dataclass(frozen=True)
class CollectionCopy:
    tenant: str
    collection: Collection
    created: bool
    copied: int
    source_count: int
    destination_count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "collection": self.collection.name,
            "dimensions": self.collection.dimensions,
            "embedding_model": self.collection.embedding_model,
            "metric": self.collection.metric,
            "created": self.created,
            "copied": self.copied,
            "source_count": self.source_count,
            "destination_count": self.destination_count,
        }


@dataclass(frozen=True)
class MigrationReport:
    collections: list[CollectionCopy] = field(default_factory=list)
    keys: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "collections": [c.to_json() for c in self.collections],
            "items": sum(c.copied for c in self.collections),
            "keys": self.keys,
        }


def migrate(
    source: Store,
    destination: Store,
    *,
    tenants: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = SILENT,
) -> MigrationReport:
    """Copy ``tenants`` (default: every tenant of ``source``) into ``destination``."""
    names = [check_tenant(t) for t in tenants] if tenants else source.list_tenants()
    plan = [(t, pin) for t in names for pin in _checked_pins(source, destination, t)]
    created = {
        (t, pin.name) for t, pin in plan if destination.describe_collection(t, pin.name) is None
    }
    copies: list[tuple[str, Collection, int]] = []
    for tenant, pin in plan:
        destination.ensure_collection(tenant, pin)
        progress.start(f"{tenant}/{pin.name}", source.count(tenant, pin.name))
        copied = 0
        for items in iter_batches(source, tenant, pin.name, batch_size=batch_size):
            copied += destination.upsert(tenant, pin.name, items)
            progress.update(copied, copied)
        copies.append((tenant, pin, copied))
    keys = _copy_keys(source, destination, None if not tenants else set(names))
    report = [
        _verified(source, destination, t, pin, n, (t, pin.name) in created, batch_size)
        for t, pin, n in copies
    ]
    return MigrationReport(report, keys)


def _checked_pins(source: Store, destination: Store, tenant: str) -> list[Collection]:
    """The tenant's pins, each identical at the destination if it exists there already."""
    pins = source.list_collections(tenant)
    for pin in pins:
        existing = destination.describe_collection(tenant, pin.name)
        if existing is None:
            continue
        try:
            check_compatible(existing, pin)
            if existing.embedding_model != pin.embedding_model:  # "" is not "don't care" here
                raise CollectionConflictError(
                    pin.name, "embedding_model", existing.embedding_model, pin.embedding_model
                )
        except CollectionConflictError as exc:
            raise prefixed(exc, f"tenant {tenant!r}, nothing was migrated") from None
    return pins


def _copy_keys(source: Store, destination: Store, tenants: set[str] | None) -> int:
    if not (isinstance(source, KeyRegistry) and isinstance(destination, KeyRegistry)):
        return 0
    # With named tenants, their keys only (admin keys belong to no tenant).
    records = [r for r in source.list_keys() if tenants is None or r.tenant in tenants]
    for record in records:
        destination.add_key(record)  # idempotent; a revocation at either end sticks
    return len(records)


def _verified(
    source: Store,
    destination: Store,
    tenant: str,
    pin: Collection,
    copied: int,
    created: bool,
    page: int,
) -> CollectionCopy:
    missing = 0
    theirs = _ids(destination, tenant, pin.name, page)
    other = next(theirs, None)
    total = 0
    for item_id in _ids(source, tenant, pin.name, page):
        total += 1
        while other is not None and other < item_id:  # str order is byte order in UTF-8
            other = next(theirs, None)
        if other != item_id:
            missing += 1
    if missing:
        raise MigrationVerificationError(
            f"verification failed: {missing} of the {total} items of collection {pin.name!r} "
            f"(tenant {tenant!r}) are missing at the destination; the source changed during "
            "the run, or a write failed. Stop writers to the source and run migrate again"
        )
    count = destination.count(tenant, pin.name)
    return CollectionCopy(tenant, pin, created, copied, total, count)


def _ids(store: Store, tenant: str, name: str, page: int) -> Iterator[str]:
    for ids in id_pages(store, tenant, name, page):
        yield from ids
