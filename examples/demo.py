"""nighdb on real data: 15,000 WordNet glosses embedded with all-MiniLM-L6-v2.

What it shows, in order: loading a collection in batches (with throughput), nearest-gloss
searches, the same searches under metadata filters, two tenants holding the same collection
name and overlapping ids without seeing each other, batched search, an exactness check
against numpy brute force, and latency and on-disk size.

    .venv/bin/python examples/demo.py                     # embedded, ./demo-data/demo.db
    .venv/bin/python examples/demo.py --store URL         # any nighdb store URL

The demo owns the collection "glosses" of tenants "acme" and "globex": it drops and
re-creates them on every run, so it can be run again and again against the same store.
The data (float16 copies, converted back to float32 here) is described in
examples/data/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import nighdb
from nighdb import Collection, Match, Store

F32 = npt.NDArray[np.float32]
Row = dict[str, Any]

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_STORE = "sqlite:///demo-data/demo.db"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
GLOSSES = Collection(name="glosses", dimensions=384, embedding_model=MODEL, metric="cosine")
ACME, GLOBEX, STRANGER = "acme", "globex", "initech"
GLOBEX_ROWS = 3_000  # globex holds the first 3,000 noun glosses: a subset of acme's ids
WIDTH = 100

# Sample queries (ids in wordnet-queries.jsonl.gz; none of them is in the base set).
NEAREST_QUERIES = ("03718335-n", "07656866-n", "01236027-v")  # manometer, entrecote, headbutt
FILTERED_SEARCHES: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("13448334-n", {"pos": "verb"}),  # childbirth, but only verbs may answer
    ("07656866-n", {"$and": [{"pos": "noun"}, {"len": {"lt": 60}}]}),  # entrecote, short nouns
    ("04354182-n", {"lexname": ["noun.act", "noun.event"]}),  # sumo ring, acts and events
)
ISOLATION_QUERY = "01236027-v"  # headbutt: acme's best answers are not all nouns; globex's are
TIMING_FILTER: Mapping[str, Any] = {"pos": "verb"}


# -- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """Base glosses and sample queries: row i of a matrix is entry i of its metadata list."""

    vectors: F32
    meta: list[Row]
    queries: F32
    query_meta: list[Row]

    def query(self, query_id: str) -> tuple[F32, Row]:
        for i, row in enumerate(self.query_meta):
            if row["id"] == query_id:
                return self.queries[i], row
        raise KeyError(query_id)


def read_jsonl_gz(path: Path) -> list[Row]:
    """The sidecar's lines (``{"id", "metadata": {...}, "text"}``, nighdb's line format) as the
    demo's flat rows: id, the metadata fields and the gloss side by side, which its Python
    reference filter reads like the store reads metadata."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return [{"id": x["id"], **x["metadata"], "text": x["text"]} for x in lines]


def load_dataset(directory: Path) -> Dataset:
    """Read the float16 copies and widen them to float32 (what a caller would upsert)."""
    vectors = np.load(directory / "wordnet-base.f16.npy").astype(np.float32)
    queries = np.load(directory / "wordnet-queries.f16.npy").astype(np.float32)
    meta = read_jsonl_gz(directory / "wordnet-base.jsonl.gz")
    query_meta = read_jsonl_gz(directory / "wordnet-queries.jsonl.gz")
    return Dataset(vectors, meta, queries, query_meta)


def to_item(vector: F32, row: Row) -> Row:
    """One item: the synset id, its vector, filterable metadata, and the gloss as text."""
    metadata = {key: row[key] for key in ("pos", "lexname", "lemma", "len")}
    return {"id": row["id"], "vector": vector, "metadata": metadata, "text": row["text"]}


def matches_filter(row: Row, flt: Mapping[str, Any]) -> bool:
    """The demo's filters evaluated in Python (only the forms this file uses)."""
    for key, want in flt.items():
        if key == "$and":
            ok = all(matches_filter(row, sub) for sub in want)
        elif isinstance(want, list):
            ok = row.get(key) in want
        elif isinstance(want, dict):
            ok = all(_compare(row.get(key), op, operand) for op, operand in want.items())
        else:
            ok = row.get(key) == want
        if not ok:
            return False
    return True


def _compare(value: Any, op: str, operand: Any) -> bool:
    if value is None:
        return False
    checks: dict[str, Callable[[Any, Any], bool]] = {
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
    }
    return checks[op](value, operand)


# -- output ----------------------------------------------------------------------------


def section(title: str) -> None:
    print()
    print(title)
    print("=" * len(title))


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()
) -> str:
    """Plain aligned columns, ``right`` the indexes of right-aligned ones.

    The last column is clipped so that a line never passes ``WIDTH`` characters.
    """
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    room = WIDTH - 2 - sum(widths[:-1]) - 2 * (len(widths) - 1)
    widths[-1] = max(10, min(widths[-1], room))

    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            cell = clip(cell, widths[i])
            out.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        return ("  " + "  ".join(out)).rstrip()

    rule = "  " + "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def match_table(matches: Sequence[Match]) -> str:
    rows = [
        [
            str(rank),
            m.id,
            clip(str(m.metadata.get("lemma", "")), 22),
            str(m.metadata.get("pos", "")),
            f"{m.score:.4f}",
            m.text,
        ]
        for rank, m in enumerate(matches, 1)
    ]
    return table(["#", "id", "lemma", "pos", "score", "gloss"], rows, right=(0, 4))


def show_query(row: Row, extra: str = "") -> None:
    print()
    print(clip(f"query {row['id']}  {row['lemma']} ({row['pos']}): {row['text']}", WIDTH))
    if extra:
        print(extra)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# -- the steps -------------------------------------------------------------------------


def reset(store: Store) -> None:
    """Drop the demo's collections so every run starts from the same empty state."""
    for tenant in (ACME, GLOBEX):
        removed = store.drop_collection(tenant, GLOSSES.name)
        if removed:
            print(f"  dropped {tenant}/{GLOSSES.name} from a previous run ({removed:,} items)")


def ingest(store: Store, tenant: str, data: Dataset, rows: Sequence[int], batch: int) -> float:
    """Ensure the collection and upsert ``rows`` in batches; returns the seconds taken."""
    start = time.perf_counter()
    store.ensure_collection(tenant, GLOSSES)
    for at in range(0, len(rows), batch):
        chunk = rows[at : at + batch]
        store.upsert(tenant, GLOSSES.name, [to_item(data.vectors[i], data.meta[i]) for i in chunk])
        if sys.stdout.isatty():
            print(f"\r  {tenant:7} {at + len(chunk):>7,} / {len(rows):,}", end="", flush=True)
    elapsed = time.perf_counter() - start
    if sys.stdout.isatty():
        print("\r" + " " * WIDTH + "\r", end="")  # clear the progress line
    return elapsed


def load(store: Store, data: Dataset, batch: int) -> list[int]:
    section("1. Load: the same collection name for two tenants")
    reset(store)
    globex_rows = [i for i, row in enumerate(data.meta) if row["pos"] == "noun"][:GLOBEX_ROWS]
    plan = [
        (ACME, list(range(len(data.meta))), "every gloss"),
        (GLOBEX, globex_rows, f"the first {GLOBEX_ROWS:,} noun glosses (ids shared with acme)"),
    ]
    rows = []
    for tenant, indexes, what in plan:
        seconds = ingest(store, tenant, data, indexes, batch)
        rows.append(
            [
                tenant,
                f"{len(indexes):,}",
                f"{seconds:.2f} s",
                f"{len(indexes) / seconds:,.0f}",
                what,
            ]
        )
    pin = store.describe_collection(ACME, GLOSSES.name)
    assert pin is not None
    print(f"  collection {pin.name!r}: {pin.dimensions}-d, {pin.metric}, {pin.embedding_model}")
    print(f"  upserts of {batch:,} items: id, vector, metadata {{pos, lexname, lemma, len}}, gloss")
    print()
    print(table(["tenant", "items", "time", "vectors/s", "what"], rows, right=(1, 2, 3)))
    return globex_rows


def nearest(store: Store, data: Dataset) -> None:
    section("2. Nearest glosses (top 5, cosine; the query glosses are not in the store)")
    for query_id in NEAREST_QUERIES:
        vector, row = data.query(query_id)
        show_query(row)
        print(match_table(store.search(ACME, GLOSSES.name, vector, limit=5)))


def filtered(store: Store, data: Dataset) -> None:
    section("3. The same kind of search under metadata filters (applied before ranking)")
    for query_id, flt in FILTERED_SEARCHES:
        vector, row = data.query(query_id)
        allowed = sum(matches_filter(r, flt) for r in data.meta)
        show_query(row, f"filter {json.dumps(flt)}  ({allowed:,} of {len(data.meta):,} match)")
        matches = store.search(ACME, GLOSSES.name, vector, limit=5, filter=flt)
        assert all(matches_filter({**m.metadata, "id": m.id}, flt) for m in matches)
        print(match_table(matches))


def isolation(store: Store, data: Dataset, globex_rows: Sequence[int]) -> None:
    section("4. Tenant isolation: acme/glosses and globex/glosses are different collections")
    name = GLOSSES.name
    globex_ids = {data.meta[i]["id"] for i in globex_rows}
    rows = []
    for tenant in (ACME, GLOBEX, STRANGER):
        pin = store.describe_collection(tenant, name)
        try:
            count = f"{store.count(tenant, name):,}"
        except nighdb.CollectionNotFoundError as err:
            count = f"{type(err).__name__}"
        listed = ", ".join(repr(c.name) for c in store.list_collections(tenant)) or "[]"
        described = "None" if pin is None else f"{pin.name!r}, {pin.dimensions}-d, {pin.metric}"
        rows.append([tenant, listed, described, count])
    print(f"  list_tenants() -> {store.list_tenants()}")
    print()
    print(table(["tenant", "list_collections", "describe_collection", "count"], rows))

    vector, row = data.query(ISOLATION_QUERY)
    acme_hits = store.search(ACME, name, vector, limit=5)
    globex_hits = store.search(GLOBEX, name, vector, limit=5)
    show_query(row, "as acme:")
    print(match_table(acme_hits))
    print("as globex (the same call; globex holds 3,000 nouns):")
    print(match_table(globex_hits))
    foreign = sum(m.id not in globex_ids for m in globex_hits)
    print(f"  globex results that are not globex's own rows: {foreign}")

    acme_only = next(m.id for m in acme_hits if m.id not in globex_ids)
    shared = min(globex_ids)
    rows = [["count()", f"{store.count(ACME, name):,}", f"{store.count(GLOBEX, name):,}"]]
    for label, flt in (
        ('search(filter={"pos": "verb"})', {"pos": "verb"}),
        (f'search(filter={{"id": "{acme_only}"}})  acme-only id', {"id": acme_only}),
        (f'search(filter={{"id": "{shared}"}})  id both hold', {"id": shared}),
    ):
        hits = [len(store.search(t, name, vector, limit=10, filter=flt)) for t in (ACME, GLOBEX)]
        rows.append([label, plural(hits[0], "hit"), plural(hits[1], "hit")])
    removed = store.delete(GLOBEX, name, [shared, acme_only])
    rows.append([f'delete(["{shared}", "{acme_only}"])', "-", f"{removed} removed"])
    rows.append(
        ["count() afterwards", f"{store.count(ACME, name):,}", f"{store.count(GLOBEX, name):,}"]
    )
    print()
    print(table(["call", "as acme", "as globex"], rows, right=(1, 2)))


def reference_topk(data: Dataset, mask: npt.NDArray[np.bool_], k: int) -> list[list[str]]:
    """Exact top-k by numpy in float64 over the loaded vectors, ties by id (contract §5)."""
    base = data.vectors.astype(np.float64)
    queries = data.queries.astype(np.float64)
    cos = (queries @ base.T) / np.outer(
        np.linalg.norm(queries, axis=1), np.linalg.norm(base, axis=1)
    )
    distances = np.clip(1.0 - cos, 0.0, 2.0)
    ids = np.array([row["id"] for row in data.meta])
    id_rank = np.argsort(np.argsort(ids, kind="stable"), kind="stable")
    candidates = np.flatnonzero(mask)
    out = []
    for row in distances:
        order = np.lexsort((id_rank[candidates], row[candidates]))[:k]
        out.append([str(ids[candidates[j]]) for j in order])
    return out


def batched(store: Store, data: Dataset) -> None:
    section(f"5. search_many over all {len(data.queries)} sample queries, checked against numpy")
    k = 10
    rows = []
    for label, flt in (("no filter", None), (json.dumps(TIMING_FILTER), TIMING_FILTER)):
        results = store.search_many(ACME, GLOSSES.name, data.queries, limit=k, filter=flt)
        again = partial(store.search_many, ACME, GLOSSES.name, data.queries, limit=k, filter=flt)
        seconds = statistics.median(timed(again, 3))
        mask = np.array([flt is None or matches_filter(r, flt) for r in data.meta])
        expected = reference_topk(data, mask, k)
        got = [[m.id for m in ms_] for ms_ in results]
        recall = statistics.mean(
            len(set(g) & set(e)) / len(e) for g, e in zip(got, expected, strict=True)
        )
        same = sum(g == e for g, e in zip(got, expected, strict=True))
        rows.append(
            [
                label,
                f"{int(mask.sum()):,}",
                f"{seconds * 1000:.1f} ms",
                f"{len(data.queries) / seconds:,.0f}",
                f"{recall:.3f}",
                f"{same}/{len(expected)}",
            ]
        )
    print("  reference: numpy brute force in float64 over the same (float16 -> float32) vectors;")
    print("  time: the median of 3 calls, each ranking all queries at once")
    print()
    headers = ["filter", "candidates", "time", "queries/s", "recall@10", "same order"]
    print(table(headers, rows, right=(1, 2, 3, 4, 5)))


def timed(call: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def sqlite_files(url: str, *, existing: bool = True) -> list[Path]:
    """The database file and its WAL companions, when the store is a SQLite file."""
    if "://" in url:
        scheme, _, rest = url.partition("://")
        if scheme.lower() != "sqlite":
            return []
        url = rest[1:].split("?", 1)[0]
    db = Path(url)
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists() or not existing]


LATENCY_HEADERS = ("call", "runs", "p50", "p95", "mean", "throughput")
LATENCY_NOTE = (
    "  p50, p95, mean: the latency of one search. throughput: runs / their total time, one\n"
    "  search at a time: 1 / mean, which is not 1 / p50 when some runs are slower than most."
)


def latency_row(label: str, samples: Sequence[float]) -> list[str]:
    """One row of the latency table: ``samples`` are the seconds of single calls."""
    p50, p95 = (float(v) for v in np.percentile(samples, [50, 95]))
    total = float(sum(samples))
    runs = len(samples)
    return [label, f"{runs:,}", ms(p50), ms(p95), ms(total / runs), f"{runs / total:,.0f}/s"]


def latency_table(rows: Sequence[Sequence[str]]) -> str:
    return table(LATENCY_HEADERS, rows, right=(1, 2, 3, 4, 5))


def timings(store: Store, data: Dataset, url: str) -> None:
    section(f"6. Latency over {len(data.meta):,} vectors, and size on disk")
    name = GLOSSES.name
    with nighdb.open_store(url) as fresh:  # a new store has an empty in-process cache
        cold = timed(lambda: fresh.search(ACME, name, data.queries[0], limit=10), 1)[0]
    print(f"  first search on a newly opened store (it loads the collection): {ms(cold)}")
    compound = FILTERED_SEARCHES[1][1]
    cases: list[tuple[str, Mapping[str, Any] | None]] = [
        ("search, top 10", None),
        (f"search, top 10, {json.dumps(TIMING_FILTER)}", TIMING_FILTER),
        ("search, top 10, nouns shorter than 60 ($and)", compound),
    ]
    rows = []
    for label, flt in cases:
        samples: list[float] = []
        for q in data.queries:
            samples += timed(partial(store.search, ACME, name, q, limit=10, filter=flt), 1)
        rows.append(latency_row(label, samples))
    print(LATENCY_NOTE)
    print()
    print(latency_table(rows))

    files = sqlite_files(url)
    print()
    if not files:
        print(f"  size on disk: not measured ({url} is not a SQLite file)")
        return
    sizes = [[str(p), human_bytes(p.stat().st_size)] for p in files]
    sizes.append(["total", human_bytes(sum(p.stat().st_size for p in files))])
    print(table(["file", "size"], sizes, right=(1,)))


# -- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load 15,000 real sentence embeddings into nighdb and search them.",
        epilog="The collections acme/glosses and globex/glosses are dropped and re-created.",
    )
    parser.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"store URL (default {DEFAULT_STORE}, relative to the working directory)",
    )
    parser.add_argument("--batch", type=int, default=1_000, help="items per upsert (1000)")
    parser.add_argument(
        "--temporary-store",
        action="store_true",
        help="the store is deleted when the demo ends (make demo-postgres passes this)",
    )
    return parser.parse_args(argv)


def closing(url: str, seconds: float, *, temporary: bool) -> str:
    """The demo's last words: where the store is now, and what running it again does."""
    done = f"Done in {seconds:.1f} s."
    if temporary:
        return f"{done} The store at {url} is temporary: it is deleted when the demo ends."
    return (
        f"{done} The store stays at {url};\n"
        "run the demo again at any time: it starts by re-creating its collections."
    )


def run(url: str, batch: int, *, temporary: bool = False) -> None:
    started = time.perf_counter()
    data = load_dataset(DATA)
    print(f"nighdb {nighdb.__version__} demo: {len(data.meta):,} WordNet 3.0 glosses")
    print(f"  vectors: {MODEL}, {data.vectors.shape[1]}-d, unit length (stored here as float16)")
    files = sqlite_files(url, existing=False)
    print(f"  store:   {url}" + (f"  ({files[0].resolve()})" if files else ""))
    with nighdb.open_store(url) as store:
        globex_rows = load(store, data, batch)
        nearest(store, data)
        filtered(store, data)
        isolation(store, data, globex_rows)
        batched(store, data)
        timings(store, data, url)
    print()
    print(closing(url, time.perf_counter() - started, temporary=temporary))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args.store, max(1, args.batch), temporary=args.temporary_store)
    except nighdb.NighError as err:
        print(f"error [{err.code}]: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
