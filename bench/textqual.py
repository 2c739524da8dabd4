"""Retrieval quality of text and hybrid search (contract §14) on a labelled set.

``python -m bench.textqual [--queries N] [--items N] [--backends sqlite,postgres]
[--pg-url URL]`` loads the committed WordNet set (``bench/data/textqual/``, built by
``bench/textqual_build.py``): each query is a synset's usage example written by a person,
its one relevant item that synset (lemmas and definition; the example itself is not in the
item). It stores the items in one collection per analyzer (``plain``, ``english``) and
measures, over every query, recall@10 (the share of queries whose relevant item is in the
top 10) and MRR@10 (the mean of 1/rank of the relevant item, 0 when it is below 10) for:

* vector only (``search(query)``): the baseline an application without text search has;
* text only (``search(text=…)``) under each analyzer;
* hybrid (``search(query, text=…, text_weight=w)``) for w = 0.1 … 0.9 under each analyzer.

With ``postgres`` among the backends the same searches run on PostgreSQL and every ranked
list is compared with SQLite's: §14 defines one score, computed by the same code on every
backend, so the figures must be equal, and the script says whether they are.

``--queries``/``--items`` take a slice (the first queries, their relevant items and the
first items): ``tests/test_textqual.py`` runs a small one. Quality figures do not depend on
the machine; nothing here is timed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import nighdb
from nighdb import Collection, InvalidArgumentError

DATA = Path(__file__).resolve().parent / "data" / "textqual"
TENANT = "quality"
ANALYZERS = ("plain", "english")
WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEPTH = 10
BATCH = 1000
RUNS = 1 + (1 + len(WEIGHTS)) * len(ANALYZERS)  # vector, then text and hybrids per analyzer


@dataclass(frozen=True)
class LabelledSet:
    items: list[dict[str, Any]]
    item_vectors: npt.NDArray[np.float32]
    queries: list[str]
    relevant: list[str]
    query_vectors: npt.NDArray[np.float32]


def _read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load(data: Path = DATA, *, queries: int | None = None, items: int | None = None) -> LabelledSet:
    """The committed set, or a slice: the first ``queries`` queries, and their relevant
    items plus the first ``items`` items (so every query keeps its answer)."""
    all_items = _read_jsonl_gz(data / "items.jsonl.gz")
    item_vectors = np.load(data / "items.f16.npy").astype(np.float32)
    labels = _read_jsonl_gz(data / "queries.jsonl.gz")[:queries]
    query_vectors = np.load(data / "queries.f16.npy")[: len(labels)].astype(np.float32)
    if len(all_items) != len(item_vectors):
        raise ValueError("items.jsonl.gz and items.f16.npy differ in length")
    relevant = {label["relevant"] for label in labels}
    keep = [
        row
        for row, item in enumerate(all_items)
        if items is None or row < items or item["id"] in relevant
    ]
    return LabelledSet(
        items=[all_items[row] for row in keep],
        item_vectors=item_vectors[keep],
        queries=[label["query"] for label in labels],
        relevant=[label["relevant"] for label in labels],
        query_vectors=query_vectors,
    )


Rankings = dict[str, list[list[str]]]
"""A run's name ("vector", "text plain", "hybrid english 0.5", …) -> top ids per query."""


def _fill(store: nighdb.Store, data: LabelledSet, analyzer: str) -> None:
    """One collection per analyzer, named after it, holding every item."""
    pin = Collection(analyzer, data.item_vectors.shape[1], text_analyzer=analyzer)
    store.ensure_collection(TENANT, pin)
    for start in range(0, len(data.items), BATCH):
        rows = data.items[start : start + BATCH]
        vectors = data.item_vectors[start : start + BATCH]
        store.upsert(
            TENANT,
            analyzer,
            [{**row, "vector": vector} for row, vector in zip(rows, vectors, strict=True)],
        )


def _top(
    store: nighdb.Store,
    analyzer: str,
    vector: npt.NDArray[np.float32] | None,
    text: str | None,
    weight: float = 0.5,
) -> list[str]:
    try:
        matches = store.search(TENANT, analyzer, vector, text=text, text_weight=weight, limit=DEPTH)
    except InvalidArgumentError:  # a text with no term under this analyzer ("it is")
        return []
    return [match.id for match in matches]


def rank_all(store: nighdb.Store, data: LabelledSet) -> Rankings:
    """Every run's top ``DEPTH`` ids for every query on ``store``."""
    for analyzer in ANALYZERS:
        _fill(store, data, analyzer)
    pairs = list(zip(data.queries, data.query_vectors, strict=True))
    out: Rankings = {"vector": [_top(store, "plain", v, None) for _, v in pairs]}
    for a in ANALYZERS:
        out[f"text {a}"] = [_top(store, a, None, t) for t, _ in pairs]
        for w in WEIGHTS:
            out[f"hybrid {a} {w}"] = [_top(store, a, v, t, w) for t, v in pairs]
            # Hybrid search is the slow part of a run: say how far it has got.
            print(f"  {len(out)} of {RUNS} runs", file=sys.stderr)
    return out


@dataclass(frozen=True)
class Quality:
    recall: float  # recall@10: the relevant item is in the top 10
    mrr: float  # MRR@10


def score(rankings: list[list[str]], relevant: list[str]) -> Quality:
    hits = [
        ids.index(answer) + 1 if answer in ids else 0
        for ids, answer in zip(rankings, relevant, strict=True)
    ]
    n = len(relevant)
    return Quality(
        recall=sum(1 for rank in hits if rank) / n,
        mrr=sum(1 / rank for rank in hits if rank) / n,
    )


@contextmanager
def sqlite_store() -> Iterator[nighdb.Store]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        nighdb.open_store(os.path.join(tmp, "quality.db")) as store,
    ):
        yield store


@contextmanager
def postgres_store(url: str | None) -> Iterator[nighdb.Store]:
    from .pgserver import BenchServer

    server = BenchServer(url)
    try:
        with nighdb.open_store(server.url) as store:
            yield store
    finally:
        server.close()


def report(rankings: Rankings, data: LabelledSet) -> dict[str, Quality]:
    """The quality of each run, printed as a table (the default weight marked)."""
    qualities = {name: score(ranked, data.relevant) for name, ranked in rankings.items()}
    print(f"| run | recall@{DEPTH} | MRR@{DEPTH} |\n|---|---:|---:|")
    for name, quality in qualities.items():
        print(f"| {name} | {quality.recall:.3f} | {quality.mrr:.3f} |")
    return qualities


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--queries", type=int, default=None, help="the first N (default all)")
    parser.add_argument("--items", type=int, default=None, help="the first N (default all)")
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    data = load(args.data, queries=args.queries, items=args.items)
    print(f"{len(data.items)} items, {len(data.queries)} queries\n")
    backends = args.backends.split(",")
    with sqlite_store() as store:
        rankings = rank_all(store, data)
    report(rankings, data)
    if "postgres" in backends:
        with postgres_store(args.pg_url) as store:
            pg_rankings = rank_all(store, data)
        same = sum(
            a == b
            for name in rankings
            for a, b in zip(rankings[name], pg_rankings[name], strict=True)
        )
        total = sum(len(ranked) for ranked in rankings.values())
        print(f"\nPostgreSQL: {same} of {total} ranked lists identical to SQLite's")
        if same != total:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
