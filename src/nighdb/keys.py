"""API keys for the service: generation, hashing, and the registry each database backend keeps.

A key is shown once, when it is created; the store keeps only its SHA-256 (keys are 256
random bits, so a fast hash is enough: there is nothing to brute-force). Keys live in the
store's own database, so every node of an HA deployment sees the same keys.

A key is ``nigh_<id>_<secret>``: the id (public, used by ``keys ls``/``keys revoke``) travels
inside the key so logs and listings can name a key without ever showing its secret.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from hmac import compare_digest  # the one name tests watch: constant-time comparison
from typing import Protocol, runtime_checkable

__all__ = [
    "KEY_COLUMNS",
    "KeyRecord",
    "KeyRegistry",
    "hash_key",
    "key_id_of",
    "new_key",
    "verify_key",
]

_PREFIX = "nigh"


@dataclass(frozen=True)
class KeyRecord:
    """A stored key: never the secret, only its hash. ``tenant`` is None for admin keys."""

    id: str
    key_hash: str
    tenant: str | None
    admin: bool
    created_at: float
    revoked: bool = False

    @staticmethod
    def from_row(row: Sequence[object]) -> KeyRecord:
        """A record from a database row in ``KEY_COLUMNS`` order."""
        key_id, key_hash, tenant, admin, created_at, revoked = row
        return KeyRecord(
            str(key_id),
            str(key_hash),
            None if tenant is None else str(tenant),
            bool(admin),
            float(created_at),  # type: ignore[arg-type]
            bool(revoked),
        )


KEY_COLUMNS = "id, key_hash, tenant, admin, created_at, revoked"
"""The column order database backends store key records in (see ``from_row``)."""


@runtime_checkable
class KeyRegistry(Protocol):
    """Key storage, implemented by the database backends (not by the remote client)."""

    def add_key(self, record: KeyRecord) -> None: ...

    def find_key(self, key_id: str) -> KeyRecord | None: ...

    def list_keys(self) -> list[KeyRecord]: ...

    def revoke_key(self, key_id: str) -> bool: ...


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(*, tenant: str | None, admin: bool) -> tuple[str, KeyRecord]:
    """A fresh key and the record to store for it (the key itself is never stored)."""
    if admin == (tenant is not None):
        raise ValueError("a key belongs to exactly one tenant, or is an admin key")
    key_id = secrets.token_hex(8)
    key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return key, KeyRecord(key_id, hash_key(key), tenant, admin, time.time())


def key_id_of(key: str) -> str | None:
    """The public id inside a presented key, or None if it is not shaped like one of ours."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1]:
        return None
    return parts[1]


def verify_key(registry: KeyRegistry, key: str) -> KeyRecord | None:
    """The live record of ``key``, compared in constant time; None if unknown or revoked."""
    key_id = key_id_of(key)
    if key_id is None:
        return None
    record = registry.find_key(key_id)
    if record is None or record.revoked:
        return None
    if not compare_digest(record.key_hash, hash_key(key)):
        return None
    return record
