"""Full-text search, defined once for every backend: the analyzers and BM25 (contract §14).

A backend stores what ``analyze`` makes of each item's text (its postings: term, item,
term frequency, and the item's length in tokens) and hands the postings of a query's terms
back to ``bm25_scores``, so the score of an item is computed by this one function on every
backend, in float64, in one summation order: the same score everywhere, never a SQL
dialect's own ranking.

Tokens: the text NFKC-normalised and case-folded, split into maximal runs of Unicode
letters and digits (categories L* and N*). On CPython 3.11+ ``[^\\W_]`` is exactly that set
(``tests/test_text.py`` checks every code point), and a compiled regex is ~20x faster than a
per-character category test. Analyzers:

* ``plain``: the tokens;
* ``english``: the tokens without Lucene's 33 classic English stop words, each stemmed by
  the Snowball English stemmer. ``PyStemmer`` (the C build of Snowball, the ``fast-stem``
  extra) is used when importable, else ``snowballstemmer`` (pure Python, a core dependency:
  one small wheel, no compiled code): the same algorithm, the same stems.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "ANALYZERS",
    "BM25_B",
    "BM25_K1",
    "DEFAULT_ANALYZER",
    "ENGLISH_STOP_WORDS",
    "Analyzed",
    "TextRanking",
    "BatchArrays",
    "BatchPostings",
    "analyze",
    "analyze_batch",
    "analyze_batch_arrays",
    "analyze_query",
    "bm25_scores",
    "contenders",
    "idf",
    "rank_text",
    "segment_tier",
    "tokenize",
]

BM25_K1 = 1.2
BM25_B = 0.75
DEFAULT_ANALYZER = "plain"
ANALYZERS: tuple[str, ...] = ("plain", "english")

# Lucene's classic English stop set (StopAnalyzer.ENGLISH_STOP_WORDS_SET), 33 words.
ENGLISH_STOP_WORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into"),
        *("is", "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then"),
        *("there", "these", "they", "this", "to", "was", "will", "with"),
    }
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_TOKEN = re.compile(r"[^\W_]+")

# ASCII text (most text, and ``str.isascii`` answers in O(1)): NFKC leaves it as it is,
# case-folding lower-cases A-Z only, and its letters and digits are exactly [A-Za-z0-9]. So
# one ``bytes.translate`` (A-Z to a-z, every other non-alphanumeric byte to a space) and a
# ``split`` give the same tokens as the regex, about 3x faster (ingest analyzes every text).
# Bytes 128-255 never occur in ASCII text; the table maps them to spaces only to be complete.
_ASCII_FOLD = bytes(
    c if chr(c).isdigit() or chr(c).islower() else c + 32 if chr(c).isupper() else 32
    for c in range(128)
) + bytes([32] * 128)


def tokenize(text: str) -> list[str]:
    """The plain tokens of ``text``: NFKC, case-folded, maximal runs of letters and digits."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_FOLD).decode("ascii").split()
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


@functools.cache
def _english_stemmer() -> Callable[[list[str]], list[str]]:
    try:
        import Stemmer  # PyStemmer, the fast-stem extra

        fast = Stemmer.Stemmer("english")
        return fast.stemWords  # type: ignore[no-any-return]
    except ImportError:
        import snowballstemmer

        pure = snowballstemmer.stemmer("english")
        return pure.stemWords  # type: ignore[no-any-return]


def _stem_cached(word: str) -> str:
    return _english_stemmer()([word])[0]


# Most words repeat across a corpus: a bounded cache turns most stems into a dict lookup.
_stem = functools.lru_cache(maxsize=65536)(_stem_cached)


def analyze_tokens(text: str, analyzer: str) -> list[str]:
    """The terms of ``text`` under ``analyzer`` (a name from ``ANALYZERS``), in order."""
    tokens = tokenize(text)
    if analyzer == "english":
        return [_stem(t) for t in tokens if t not in ENGLISH_STOP_WORDS]
    return tokens


@dataclass(frozen=True)
class Analyzed:
    """One item's postings: each distinct term with its frequency, and the item's length."""

    terms: dict[str, int]
    length: int


def analyze(text: str, analyzer: str) -> Analyzed:
    terms = analyze_tokens(text, analyzer)
    return Analyzed(dict(Counter(terms)), len(terms))


@dataclass(frozen=True)
class BatchPostings:
    """The postings of a batch of texts, sorted by term then by text: per posting its term,
    the index of its text in the batch, its term frequency and that text's length."""

    terms: list[str]
    texts: list[int]
    tf: list[int]
    lengths: list[int]
    total_length: int

    def __len__(self) -> int:
        return len(self.terms)


@dataclass(frozen=True)
class BatchArrays:
    """The postings of a batch of texts as arrays, sorted by term then by text: the batch's
    distinct terms in code-point order (``vocabulary``) and per posting its term's index in
    it, its text's index in the batch and its term frequency; ``lengths`` per text."""

    vocabulary: list[str]
    term_ranks: I64
    texts: I64
    tf: I64
    lengths: I64


def analyze_batch_arrays(texts: Sequence[str], analyzer: str) -> BatchArrays:
    """Exactly ``analyze`` of each text, as one batch: each distinct term is one Python
    string for the whole batch and the (term, text) pairs are counted and sorted as integer
    keys by numpy, instead of a dict and a tuple per term of each text (ingest's cost)."""
    joined = _ASCII_SEPARATOR.join(texts)
    if len(texts) > 1 and joined.isascii() and joined.count("\x01") == len(texts) - 1:
        return _analyze_joined(joined, len(texts), analyzer)
    token_lists = [tokenize(text) for text in texts]
    if analyzer == "english":
        # Each distinct token is stemmed once per batch; the rest are dict lookups.
        stems = _stems(itertools.chain.from_iterable(token_lists))
        token_lists = [[stems[t] for t in tokens if t in stems] for tokens in token_lists]
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    vocabulary, ranks = _ranked(list(itertools.chain.from_iterable(token_lists)))
    text_of_token = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
    return _count(vocabulary, ranks, text_of_token, lengths)


def _ranked(tokens: list[str]) -> tuple[list[str], I64]:
    """The distinct tokens in code-point order (as ``str`` sorts) and each token's rank
    among them. One dict pass numbers each token by its first occurrence (``setdefault``
    and ``map`` run in C, with no Python frame per token, and hash each fresh token once);
    numpy turns those numbers into ranks."""
    first: dict[str, int] = {}
    ids = np.fromiter(
        map(first.setdefault, tokens, itertools.count()), dtype=np.int64, count=len(tokens)
    )
    vocabulary = sorted(first)
    rank_at = np.empty(len(tokens), dtype=np.int64)
    at = np.fromiter(map(first.__getitem__, vocabulary), dtype=np.int64, count=len(vocabulary))
    rank_at[at] = np.arange(len(vocabulary), dtype=np.int64)
    return vocabulary, rank_at[ids]


# An ASCII batch is tokenized as one string: its texts joined by a token of their own, a
# control character that ``tokenize`` never keeps (the fold table keeps it here), so one
# ``translate`` and one ``split`` serve the whole batch (used only when no text holds it).
_ASCII_SEPARATOR = " \x01 "
_ASCII_FOLD_KEEP_SEPARATOR = _ASCII_FOLD[:1] + b"\x01" + _ASCII_FOLD[2:]


def _stems(tokens: Iterable[str]) -> dict[str, str]:
    return {t: _stem(t) for t in dict.fromkeys(tokens) if t not in ENGLISH_STOP_WORDS}


def _analyze_joined(joined: str, n_texts: int, analyzer: str) -> BatchArrays:
    tokens = joined.encode("ascii").translate(_ASCII_FOLD_KEEP_SEPARATOR).decode("ascii").split()
    if analyzer == "english":
        stems = _stems(tokens)
        stems["\x01"] = "\x01"
        tokens = [stems[t] for t in tokens if t in stems]
    # The separator sorts before every term: rank 0.
    vocabulary, ranks = _ranked(tokens)
    separators = ranks == 0
    text_of_token = np.cumsum(separators)
    lengths = np.bincount(text_of_token, minlength=n_texts) - 1
    lengths[0] += 1  # the first text has no separator before it
    keep = ~separators
    return _count(vocabulary[1:], ranks[keep] - 1, text_of_token[keep], lengths)


def _count(vocabulary: list[str], ranks: I64, text_of_token: I64, lengths: I64) -> BatchArrays:
    n_texts = len(lengths)
    # One integer per (term, text): sorting these sorts by term, then by text.
    keys, tf = np.unique(ranks * n_texts + text_of_token, return_counts=True)
    term_ranks, text_indexes = np.divmod(keys, max(n_texts, 1))
    return BatchArrays(vocabulary, term_ranks, text_indexes, tf.astype(np.int64), lengths)


def analyze_batch(texts: Sequence[str], analyzer: str) -> BatchPostings:
    """``analyze_batch_arrays`` as one Python value per posting (term, text, tf, length)."""
    batch = analyze_batch_arrays(texts, analyzer)
    words = np.array(batch.vocabulary, dtype=object)
    return BatchPostings(
        terms=words[batch.term_ranks].tolist(),
        texts=batch.texts.tolist(),
        tf=batch.tf.tolist(),
        lengths=batch.lengths[batch.texts].tolist(),
        total_length=int(batch.lengths.sum()),
    )


def analyze_query(text: str, analyzer: str) -> list[str]:
    """A query's distinct terms, sorted: repeated tokens count once (contract §14), and the
    sorted order is the one summation order of ``bm25_scores``."""
    return sorted(set(analyze_tokens(text, analyzer)))


def idf(n_items: int, df: int) -> float:
    return math.log(1.0 + (n_items - df + 0.5) / (df + 0.5))


def bm25_scores(
    n_items: int,
    total_length: int,
    postings: Sequence[tuple[int, I64, I64, I64]],
    *,
    dense: int | None = None,
) -> tuple[I64, F64]:
    """BM25 of every item holding at least one query term.

    ``postings`` holds, per query term in ``analyze_query``'s order, ``(df, items, tf,
    lengths)``: the term's document frequency over the whole collection and, for the items
    to score (those that pass the filter), their keys, term frequencies and lengths. Returns
    the distinct item keys (ascending) and their scores. Every backend calls this, so the
    float64 operations, and their order, are the same everywhere. ``dense=n`` says the
    keys are exactly ``0 .. n-1``: they need no sorting (~25 µs of a search).
    """
    keys_parts = [p[1] for p in postings if len(p[1])]
    if not keys_parts or n_items <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    if dense is None:
        keys = np.unique(np.concatenate(keys_parts))
    else:
        keys = np.arange(dense, dtype=np.int64)
    scores = np.zeros(len(keys), dtype=np.float64)
    avg_length = total_length / n_items
    for df, items, tf, lengths in postings:
        if not len(items):
            continue
        tf64 = tf.astype(np.float64)
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * (lengths.astype(np.float64) / avg_length))
        part = idf(n_items, df) * (tf64 * (BM25_K1 + 1.0)) / (tf64 + norm)
        scores[items if dense is not None else np.searchsorted(keys, items)] += part
    return keys, scores


@dataclass(frozen=True)
class TextRanking:
    """The complete text ranking: ids by (score descending, id), with their scores."""

    ids: list[str]
    scores: list[float]

    def __len__(self) -> int:
        return len(self.ids)


def rank_text(ids: Sequence[str], scores: F64, *, limit: int | None = None) -> TextRanking:
    """Order scored items by score descending, ties by id (code-point order, which is UTF-8
    byte order: the order of every other ranking); the first ``limit`` only, if given."""
    candidates: Sequence[int] = range(len(ids))
    if limit is not None:
        # Sorting only the contenders is far cheaper than sorting every item.
        candidates = contenders(scores, limit).tolist()
    order = sorted(candidates, key=lambda i: (-float(scores[i]), ids[i]))[:limit]
    return TextRanking([ids[i] for i in order], [float(scores[i]) for i in order])


def contenders(scores: F64, limit: int) -> I64:
    """The positions of the scores that can be among the best ``limit``: every one at least
    the ``limit``-th best, since ties at the cut are decided by id (all of them when there
    are no more than ``limit``)."""
    if not 0 < limit < len(scores):
        return np.arange(len(scores), dtype=np.int64)
    cut = np.partition(scores, len(scores) - limit)[len(scores) - limit]
    return np.flatnonzero(scores >= cut).astype(np.int64)


def segment_tier(docs: int, merge_factor: int) -> int:
    """The size tier of a postings segment of ``docs`` items, ``floor(log_F(docs))`` for
    ``F = merge_factor``: the size class both backends merge by. In integers: a float
    logarithm can land just below an exact power (``math.log(1000, 10)`` is
    2.9999999999999996)."""
    tier = 0
    while docs >= merge_factor ** (tier + 1):
        tier += 1
    return tier
