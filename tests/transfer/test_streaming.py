"""``nighdb.transfer`` streams in bounded memory: an import reads one batch ahead at most,
batches are bounded by bytes too, and an export fetches a page at a time."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import nighdb
from nighdb import Item
from nighdb.transfer import Record, export_jsonl, import_records, jsonl_records

from ..cli_support import sqlite_url


class _Recorder:
    """A store wrapper that records the calls the streaming code makes."""

    def __init__(self, store: nighdb.Store, consumed: list[int] | None = None) -> None:
        self.store = store
        self.consumed = consumed
        self.in_flight: list[int] = []
        self.fetched: list[int] = []
        self.batches: list[int] = []
        self.upserted = 0

    def upsert(self, tenant: str, collection: str, items: Sequence[Any]) -> int:
        if self.consumed is not None:  # read from the input but not yet written
            self.in_flight.append(self.consumed[0] - self.upserted)
        self.upserted += len(items)
        self.batches.append(len(items))
        return self.store.upsert(tenant, collection, items)

    def fetch(self, tenant: str, collection: str, ids: Sequence[str]) -> list[Item]:
        self.fetched.append(len(ids))
        return self.store.fetch(tenant, collection, ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_import_streams_one_batch_at_a_time(tmp_path: Path) -> None:
    consumed = [0]

    def lines() -> Iterator[bytes]:
        for n in range(2500):
            consumed[0] += 1
            yield json.dumps({"id": f"{n:05d}", "vector": [1.0, n]}).encode() + b"\n"

    seen: list[tuple[int, int]] = []

    class Bars:
        def start(self, label: str, total: int | None) -> None:
            assert (label, total) == ("t/c", None)

        def update(self, done: int, items: int) -> None:
            seen.append((done, items))

    with nighdb.open_store(sqlite_url(tmp_path)) as store:
        recorder = _Recorder(store, consumed)
        result = import_records(
            recorder,
            "t",
            "c",
            jsonl_records(lines(), "gen"),
            source="gen",
            batch_size=300,
            progress=Bars(),
        )
        assert result.items == 2500 and store.count("t", "c") == 2500
    assert max(recorder.in_flight) <= 300  # never more than one batch read ahead
    assert seen[-1][1] == 2500 and seen == sorted(seen)


def test_batches_are_bounded_by_bytes_too(tmp_path: Path) -> None:
    big = [Record(n, {"id": str(n), "vector": [1.0] * 4}, 1_000_000) for n in range(9)]
    with nighdb.open_store(sqlite_url(tmp_path)) as store:
        recorder = _Recorder(store)
        import_records(recorder, "t", "c", big, source="x", batch_bytes=3_000_000)
    assert recorder.batches == [3, 3, 3]


def test_export_reads_a_page_at_a_time(source: str) -> None:
    with nighdb.open_store(source) as store:
        recorder = _Recorder(store)
        out = io.StringIO()
        n = export_jsonl(recorder, "acme", "docs", out, batch_size=16)
    assert n == 40 == len(out.getvalue().splitlines()) - 1  # and the collection header
    assert recorder.fetched == [16, 16, 8]
