"""Pure-Python references for text search (contract §14): BM25 and reciprocal rank fusion,
written from the contract's words alone, independent of ``nighdb.text`` and
``nighdb.fusion`` (they share nothing but the analyzer, which ``tests/test_text.py`` checks
on its own). Slow and obviously right: every item of the collection is scored, and the
hybrid ranking ranks every item by vector."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence

K1 = 1.2
B = 0.75


def reference_tokens(text: str) -> list[str]:
    """NFKC, case-folded, maximal runs of characters of categories L* and N*."""
    out: list[str] = []
    current: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).casefold():
        if unicodedata.category(ch)[0] in "LN":
            current.append(ch)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def bm25(
    texts: Mapping[str, str],
    query: str,
    passes: Callable[[str], bool],
    analyze: Callable[[str], list[str]] = reference_tokens,
) -> list[tuple[str, float]]:
    """(id, score) of the items that pass and hold a query term, best first, ties by id.
    N, df and the average length are over every item of ``texts``."""
    docs = {i: analyze(t) for i, t in texts.items()}
    n = len(docs)
    if n == 0:
        return []
    avg = sum(len(d) for d in docs.values()) / n
    terms = sorted(set(analyze(query)))
    df = {t: sum(1 for d in docs.values() if t in d) for t in terms}
    out = []
    for item_id, doc in docs.items():
        if not passes(item_id) or not any(t in doc for t in terms):
            continue
        score = 0.0
        for t in terms:
            tf = doc.count(t)
            if tf:
                idf = math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5))
                score += idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len(doc) / avg))
        out.append((item_id, score))
    out.sort(key=lambda p: (-p[1], p[0]))
    return out


def rrf(
    vector_order: Sequence[str], text_order: Sequence[str], weight: float
) -> list[tuple[str, float]]:
    """Fused (id, score) of every item of ``vector_order`` (the complete vector ranking of
    the items that pass), best first, ties by id."""
    text_rank = {i: r for r, i in enumerate(text_order, start=1)}
    fused = []
    for rank, item_id in enumerate(vector_order, start=1):
        score = (1.0 - weight) / (60 + rank)
        if item_id in text_rank:
            score += weight / (60 + text_rank[item_id])
        fused.append((item_id, score))
    fused.sort(key=lambda p: (-p[1], p[0]))
    return fused
