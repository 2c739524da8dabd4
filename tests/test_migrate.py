"""``nigh migrate`` and ``nighdb.migrate``: every tenant, pin, item and API key, SQLite to
SQLite and SQLite to a real PostgreSQL, with search results compared before and after;
idempotent re-runs, merges, conflicts and verification."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nighdb
from nighdb import Collection, CollectionConflictError
from nighdb.keys import KeyRegistry, new_key
from nighdb.migrate import MigrationVerificationError, migrate

from . import pg_server
from .cli_support import contents, error_line, nigh, run, seed, sqlite_url
from .service_support import open_in_process_store

PINS = {
    ("acme", "docs"): Collection("docs", 8, "toy-8", "cosine"),
    ("acme", "Images"): Collection("Images", 4, "", "l2"),
    ("globex", "docs"): Collection("docs", 8, "other-8", "ip"),
    ("globex", "a/b ü"): Collection("a/b ü", 3, "", "cosine"),
}
QUERIES = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)


def _fill(store: nighdb.Store, n: int = 120) -> None:
    rng = np.random.default_rng(0)
    for (tenant, name), pin in PINS.items():
        store.ensure_collection(tenant, pin)
        vectors = rng.standard_normal((n, pin.dimensions)).astype(np.float32)
        store.upsert(
            tenant,
            name,
            [
                {
                    "id": f"{name}-{i:04d}",
                    "vector": vectors[i],
                    "metadata": {"i": i, "even": i % 2 == 0, "big": 2**62 + i},
                    "text": f"item {i}",
                }
                for i in range(n)
            ],
        )


def _keys(store: nighdb.Store) -> list[tuple[str, str | None, bool, bool]]:
    assert isinstance(store, KeyRegistry)
    return sorted((k.id, k.tenant, k.admin, k.revoked) for k in store.list_keys())


@pytest.fixture
def source(tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path, "source.db")
    with nighdb.open_store(url) as store:
        _fill(store)
        assert isinstance(store, KeyRegistry)
        for tenant, admin in [("acme", False), ("globex", False), (None, True)]:
            store.add_key(new_key(tenant=tenant, admin=admin)[1])
        store.revoke_key(store.list_keys()[0].id)
    yield url


def _searches(store: nighdb.Store) -> dict[Any, list[tuple[str, float]]]:
    out: dict[Any, list[tuple[str, float]]] = {}
    for (tenant, name), pin in PINS.items():
        for j, q in enumerate(QUERIES[:, : pin.dimensions]):
            for flt in (None, {"even": True}):
                hits = store.search(tenant, name, q, limit=7, filter=flt)
                out[tenant, name, j, str(flt)] = [(h.id, h.distance) for h in hits]
    return out


def _same_everything(a: nighdb.Store, b: nighdb.Store) -> None:
    assert a.list_tenants() == b.list_tenants() == ["acme", "globex"]
    for tenant in ("acme", "globex"):
        assert a.list_collections(tenant) == b.list_collections(tenant)
        for pin in a.list_collections(tenant):
            assert contents(a, tenant, pin.name) == contents(b, tenant, pin.name)
    before, after = _searches(a), _searches(b)
    assert before.keys() == after.keys()
    for key, hits in before.items():
        assert [i for i, _ in hits] == [i for i, _ in after[key]], key
        assert [d for _, d in hits] == pytest.approx([d for _, d in after[key]], abs=1e-6)


def test_sqlite_to_sqlite(source: str, tmp_path: Path) -> None:
    target = sqlite_url(tmp_path, "target.db")
    result = run("migrate", source, target, "--batch-size", "50")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "acme/Images: 120 items copied (created), verified"
    assert "migrated 2 tenants, 4 collections, 480 items, 3 API keys" in result.stderr
    with nighdb.open_store(source) as a, nighdb.open_store(target) as b:
        _same_everything(a, b)
        assert _keys(a) == _keys(b)  # revocations included


def test_sqlite_to_postgres(source: str, tmp_path: Path) -> None:
    target = pg_server.url_for(tmp_path)
    result = run("migrate", source, target, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["items"], report["keys"]) == (480, 3)
    assert all(
        c["created"] and c["copied"] == c["destination_count"] == 120 for c in report["collections"]
    )
    with nighdb.open_store(source) as a, nighdb.open_store(target) as b:
        _same_everything(a, b)
        assert _keys(a) == _keys(b)


def test_one_tenant_then_all_is_idempotent(source: str, tmp_path: Path) -> None:
    target = sqlite_url(tmp_path, "target.db")
    first = run("migrate", source, target, "--tenant", "globex", "--json")
    assert first.exit_code == 0, first.output
    assert {c["tenant"] for c in json.loads(first.stdout)["collections"]} == {"globex"}
    with nighdb.open_store(target) as b:
        assert b.list_tenants() == ["globex"]
        assert [k[1] for k in _keys(b)] == ["globex"]  # only that tenant's key
    everything = run("migrate", source, target, "--json")
    assert everything.exit_code == 0, everything.output
    created = {
        (c["tenant"], c["collection"]): c["created"]
        for c in json.loads(everything.stdout)["collections"]
    }
    assert created[("globex", "docs")] is False and created[("acme", "docs")] is True
    assert run("migrate", source, target).exit_code == 0  # and again: nothing changes
    with nighdb.open_store(source) as a, nighdb.open_store(target) as b:
        _same_everything(a, b)
        assert _keys(a) == _keys(b)


class _CrashAfter:
    """A destination that fails on its n-th upsert (an interrupted run)."""

    def __init__(self, store: nighdb.Store, n: int) -> None:
        self.store, self.n = store, n

    def upsert(self, tenant: str, name: str, items: Sequence[Any]) -> int:
        self.n -= 1
        if self.n == 0:
            raise OSError("connection lost")
        return self.store.upsert(tenant, name, items)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_an_interrupted_migration_finishes_when_run_again(source: str, tmp_path: Path) -> None:
    target = sqlite_url(tmp_path, "target.db")
    with nighdb.open_store(source) as a, nighdb.open_store(target) as b:
        with pytest.raises(OSError):
            migrate(a, _CrashAfter(b, 5), batch_size=40)
        assert 0 < sum(b.count(t, n) for t, n in PINS if b.describe_collection(t, n)) < 480
        report = migrate(a, b, batch_size=40)
        assert report.to_json()["items"] == 480
        _same_everything(a, b)


def test_merging_keeps_what_only_the_destination_has(source: str, tmp_path: Path) -> None:
    target = sqlite_url(tmp_path, "target.db")
    with nighdb.open_store(target) as b:
        seed(b, "acme", "docs", [{"id": "mine", "vector": [1.0] * 8}], model="toy-8")
        seed(b, "initech", "own", [{"id": "x", "vector": [1.0]}])
    result = run("migrate", source, target, "--json")
    assert result.exit_code == 0, result.output
    docs = next(c for c in json.loads(result.stdout)["collections"] if c["collection"] == "docs")
    assert (docs["created"], docs["source_count"], docs["destination_count"]) == (False, 120, 121)
    with nighdb.open_store(target) as b:
        assert b.list_tenants() == ["acme", "globex", "initech"]
        assert b.count("acme", "docs") == 121


@pytest.mark.parametrize(
    "pin",
    [
        Collection("docs", 9, "toy-8"),
        Collection("docs", 8, ""),
        Collection("docs", 8, "toy-8", "l2"),
    ],
    ids=["dimensions", "model", "metric"],
)
def test_a_pin_conflict_writes_nothing(source: str, tmp_path: Path, pin: Collection) -> None:
    target = sqlite_url(tmp_path, "target.db")
    with nighdb.open_store(target) as b:
        b.ensure_collection("acme", pin)
    result = run("migrate", source, target)
    assert result.exit_code == 1
    line = error_line(result.stderr)
    assert line.startswith("error: collection_conflict: tenant 'acme', nothing was migrated: ")
    with nighdb.open_store(target) as b:
        assert b.list_tenants() == ["acme"]  # not even the other collections or tenants
        assert b.list_collections("acme") == [pin] and b.count("acme", "docs") == 0
        assert _keys(b) == []


def test_verification_catches_missing_items(source: str, tmp_path: Path) -> None:
    class Lossy:
        def __init__(self, store: nighdb.Store) -> None:
            self.store = store

        def upsert(self, tenant: str, name: str, items: Sequence[Any]) -> int:
            return self.store.upsert(tenant, name, list(items)[1:]) + 1  # drops one, says not

        def __getattr__(self, name: str) -> Any:
            return getattr(self.store, name)

    with (
        nighdb.open_store(source) as a,
        nighdb.open_store(sqlite_url(tmp_path, "t.db")) as b,
        pytest.raises(MigrationVerificationError) as info,
    ):
        migrate(a, Lossy(b), batch_size=60)
    assert info.value.code == "verification_failed"
    assert "2 of the 120 items of collection 'Images' (tenant 'acme')" in info.value.message


def test_a_failed_verification_exits_2(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise MigrationVerificationError("verification failed: 1 of the 2 items ...")

    monkeypatch.setattr("nighdb.cli.migrate_cmd.migrate_stores", failing)
    result = run("migrate", source, sqlite_url(tmp_path, "t.db"))
    assert result.exit_code == 2
    assert (
        error_line(result.stderr)
        == "error: verification_failed: verification failed: 1 of the 2 items ..."
    )


def test_into_a_service_copies_data_but_no_keys(source: str, tmp_path: Path) -> None:
    remote = open_in_process_store(sqlite_url(tmp_path, "remote.db"))
    try:
        with nighdb.open_store(source) as a:
            report = migrate(a, remote, tenants=["acme"])
            assert (report.keys, report.to_json()["items"]) == (0, 240)
            assert contents(a, "acme", "docs") == contents(remote, "acme", "docs")
    finally:
        remote.close()


def test_an_unknown_tenant_copies_nothing_and_a_bad_one_is_refused(
    source: str, tmp_path: Path
) -> None:
    target = sqlite_url(tmp_path, "t.db")
    empty = run("migrate", source, target, "--tenant", "nobody", "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout)["collections"] == []
    bad = run("migrate", source, target, "--tenant", "")
    assert bad.exit_code == 1 and error_line(bad.stderr).startswith("error: invalid_argument:")
    with nighdb.open_store(source) as a, nighdb.open_store(target) as b:
        b.ensure_collection("acme", Collection("docs", 2))
        with pytest.raises(CollectionConflictError) as info:
            migrate(a, b)
    assert (info.value.field, info.value.existing, info.value.requested) == ("dimensions", "2", "8")


def test_the_real_executable(source: str, tmp_path: Path) -> None:
    target = sqlite_url(tmp_path, "target.db")
    done = nigh("migrate", source, target)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4
    assert done.stderr.strip().startswith(
        "migrated 2 tenants, 4 collections, 480 items, 3 API keys"
    )
    with nighdb.open_store(source) as a, nighdb.open_store(target) as b:
        _same_everything(a, b)
