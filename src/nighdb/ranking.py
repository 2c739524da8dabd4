"""Exact nearest-neighbour ranking over a float32 matrix, with float64 rescoring.

The scan is one BLAS product in float32 (memory-bandwidth bound, like numpy brute force).
Float32 sums can misorder near-ties, so every item whose float32 key lies within a proven
error bound of the k-th best is rescored exactly in float64; the caller then orders those
candidates by (distance, id). The result is the exact top-k with deterministic ties,
whatever the BLAS summation order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .models import F32

__all__ = [
    "Candidates",
    "Hit",
    "QueryKeys",
    "VectorBlock",
    "exact_distances",
    "merge_hits",
    "ordered_hits",
    "rank_block",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Unit roundoffs of float32 and float64, and float32's smallest subnormal (a product that
# underflows is off by at most half of it): the terms of the keys' error bound.
_U32 = 2.0**-24
_U64 = 2.0**-53
_TINY32 = 2.0**-149
# Queries scored together: bounds the (rows x queries) float32 score matrix.
QUERY_BLOCK = 64


@dataclass(frozen=True)
class VectorBlock:
    """A block of stored vectors: ``vectors[i]`` belongs to ``ids[i]`` (row ``rowids[i]``)."""

    rowids: I64
    ids: list[str]
    vectors: F32
    norms: F64
    # Per-row factors of the float32 ranking keys: 1/|x| (cosine) and |x|^2 (l2).
    inv_norms32: F32
    sq_norms32: F32

    @staticmethod
    def build(rowids: I64, ids: list[str], vectors: F32) -> VectorBlock:
        # float64: a float32 square of a large (finite) component would overflow.
        norms: F64 = np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64))
        with np.errstate(divide="ignore", over="ignore"):
            inv_norms32 = (1.0 / norms).astype(np.float32)
            sq_norms32 = (norms * norms).astype(np.float32)
        return VectorBlock(rowids, ids, vectors, norms, inv_norms32, sq_norms32)

    @functools.cached_property
    def nbytes(self) -> int:
        """The memory this block keeps alive, for the cache's budget. Computed on demand:
        a streamed chunk is never cached, and summing its ids cost ~5% of a streamed scan."""
        # A Python str costs ~56 bytes of header beyond its characters.
        id_bytes = sum(len(i) for i in self.ids) + 56 * len(self.ids)
        arrays = (self.vectors, self.norms, self.inv_norms32, self.sq_norms32, self.rowids)
        return int(sum(a.nbytes for a in arrays) + id_bytes)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Candidates:
    """A superset of one query's top-k: positions in the block and their exact distances."""

    positions: I64
    distances: F64


def exact_distances(vectors: F32, query: F32, metric: str) -> F64:
    """Distances in float64 (contract §1): cosine 1 - cos, l2 Euclidean, ip -(a.b)."""
    # ``x`` is this function's own float64 copy, so it is worked on in place: the temporary
    # arrays a row's difference or squares took were half the cost (page faults on fresh
    # megabytes), with the very same operations and results.
    x = vectors.astype(np.float64)
    q = query.astype(np.float64)
    if metric == "l2":
        np.subtract(x, q, out=x)
        out: F64 = np.sqrt(np.einsum("ij,ij->i", x, x))
        return out
    # einsum, not ``x @ q``: BLAS may sum a row in another order depending on how many rows
    # come with it, and a distance must not depend on which other candidates were scored.
    dots: F64 = np.einsum("ij,j->i", x, q)
    if metric == "ip":
        return -dots
    # ``np.linalg.norm(x, axis=1)`` is ``sqrt(add.reduce(x * x, axis=1))``: the same here.
    np.multiply(x, x, out=x)
    denom = np.sqrt(np.add.reduce(x, axis=1)) * np.linalg.norm(q)
    cosine: F64 = np.clip(1.0 - dots / denom, 0.0, 2.0)
    return cosine


def rank_block(
    block: VectorBlock,
    queries: F32,
    metric: str,
    k: int,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> list[Candidates]:
    """For each query row, the candidates that can be in its exact top-``k`` within ``block``.

    ``allowed`` masks rows that pass the filter; masked rows are never returned.
    """
    n = len(block)
    n_allowed = n if allowed is None else int(allowed.sum())
    kk = min(k, n_allowed)
    if kk == 0 or queries.shape[0] == 0:
        return [_no_candidates() for _ in range(queries.shape[0])]
    positions = None
    vectors, norms = block.vectors, block.norms
    scale = block.inv_norms32 if metric == "cosine" else block.sq_norms32
    if allowed is not None and n_allowed < n:
        # Score only the rows that pass: a selective filter then costs less than no filter.
        positions = np.flatnonzero(allowed)
        vectors, norms, scale = vectors[positions], norms[positions], scale[positions]
    max_norm = float(norms.max())
    out: list[Candidates] = []
    for start in range(0, queries.shape[0], QUERY_BLOCK):
        chunk = queries[start : start + QUERY_BLOCK]
        with np.errstate(over="ignore", invalid="ignore"):
            # (queries, rows): each query's products are one contiguous row.
            products = chunk @ vectors.T
        for j in range(chunk.shape[0]):
            cand = _select(products[j], scale, max_norm, chunk[j], metric, kk)
            if cand is None:
                exact = _exact_in_chunks(vectors, chunk[j], metric)
                cand = np.arange(len(exact), dtype=np.int64)
            else:
                exact = exact_distances(vectors[cand], chunk[j], metric)
            cut = np.partition(exact, kk - 1)[kk - 1]
            keep = exact <= cut
            cand, exact = cand[keep], exact[keep]
            if positions is not None:
                cand = positions[cand]
            out.append(Candidates(cand.astype(np.int64), exact))
    return out


Hit = tuple[float, str, int]
"""One ranked item: its exact distance, id and the block's rowid; tuples order by (distance,
id), the contract's order."""


def ordered_hits(block: VectorBlock, cand: Candidates, k: int | None = None) -> list[Hit]:
    """One query's candidates in ``block`` ordered by (distance, id), the first ``k`` kept."""
    hits = sorted(
        (float(d), block.ids[p], int(block.rowids[p]))
        for p, d in zip(cand.positions.tolist(), cand.distances.tolist(), strict=True)
    )
    return hits if k is None else hits[:k]


def merge_hits(kept: list[Hit], new: list[Hit], k: int) -> list[Hit]:
    """The best ``k`` of two chunks' hits: how a scan in chunks keeps one query's top-k."""
    merged = kept + new
    merged.sort()
    return merged[:k]


def _exact_in_chunks(vectors: F32, query: F32, metric: str) -> F64:
    """Every row's exact distance, a bounded slice at a time (the overflow fallback)."""
    step = 65536
    parts = [
        exact_distances(vectors[i : i + step], query, metric) for i in range(0, len(vectors), step)
    ]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def _select(
    products: F32, scale: F32, max_norm: float, query: F32, metric: str, k: int
) -> I64 | None:
    """Rows whose float32 key is within the rounding bound of the k-th smallest key.

    None when float32 overflowed (components near float32's limit): rank exactly instead.
    """
    keyed = _keys(products, scale, max_norm, query, metric)
    if keyed is None:
        return None
    key, tol = keyed
    kth = float(np.partition(key, k - 1)[k - 1])
    return np.flatnonzero(key <= _ceil32(kth + tol)).astype(np.int64)


def _keys(
    products: F32, scale: F32, max_norm: float, query: F32, metric: str
) -> tuple[F32, float] | None:
    """Float32 ranking keys and ``tol``: a row whose key is more than ``tol`` below another's
    has the smaller float64 distance (``exact_distances``), more than ``tol`` above, the
    larger. None when float32 overflowed.

    ``tol`` is twice the worst-case error of a key plus that of the float64 distance, both
    in the key's units, for any BLAS summation order (the proof: docs/ranking.md).
    """
    if not np.isfinite(products).all():
        return None
    n = query.shape[0]
    qnorm = float(np.linalg.norm(query.astype(np.float64)))
    gamma = (n + 4) * _U32 / (1.0 - (n + 4) * _U32)
    with np.errstate(over="ignore", invalid="ignore"):
        if metric == "cosine":
            key = products * scale  # -key/|q| is the cosine similarity
            np.negative(key, out=key)
            error = (
                gamma * qnorm
                + (2 * n + 8) * _U64 * qnorm
                + (n * float(scale.max()) + 1.0) * _TINY32
            )
        elif metric == "l2":
            key = scale - np.float32(2.0) * products  # the squared distance minus |q|^2
            error = (
                gamma * max_norm * (max_norm + 2.0 * qnorm)
                + (2 * n + 9) * _U64 * (max_norm + qnorm) ** 2
                + 2.0 * (n + 1) * _TINY32
            )
        else:
            key = -products
            error = gamma * max_norm * qnorm + (n + 1) * _U64 * max_norm * qnorm + n * _TINY32
        # The bound's own float64 arithmetic (and that of the norms it uses) is far inside
        # this relative margin.
        tol = 2.0 * error * (1.0 + 2.0**-20)
    if not np.isfinite(key).all() or not np.isfinite(tol):
        return None
    return key, float(tol)


def _ceil32(value: float) -> np.float32:
    """The smallest float32 at least ``value``: numpy compares a float32 array with a Python
    float in float32, rounding to nearest, which could move a threshold inward."""
    with np.errstate(over="ignore"):
        rounded: np.float32 = np.float32(value)
    if float(rounded) < value:
        rounded = np.float32(np.nextafter(rounded, np.float32(np.inf)))
    return rounded


class QueryKeys:
    """One query's float32 ranking keys over a block's ``allowed`` rows, computed once and
    read twice: for the top ``k`` (as ``rank_block``) and for the exact ranks of given rows.

    A row whose key lies more than ``tol`` below a target's is closer, more than ``tol``
    above it is farther (the bound ``rank_block`` relies on); only the rows within ``tol``
    of a target's key are rescored in float64, so a rank costs no ordering of the block.
    """

    def __init__(
        self,
        block: VectorBlock,
        query: F32,
        metric: str,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        self.block, self.query, self.metric = block, query, metric
        vectors, norms = block.vectors, block.norms
        scale = block.inv_norms32 if metric == "cosine" else block.sq_norms32
        self.positions: I64 | None = None
        if allowed is not None and not bool(allowed.all()):
            self.positions = np.flatnonzero(allowed).astype(np.int64)
            vectors, norms, scale = (
                vectors[self.positions],
                norms[self.positions],
                scale[self.positions],
            )
        self.vectors = vectors
        self.query_norm = float(np.linalg.norm(query.astype(np.float64)))
        self.keyed: tuple[F32, float] | None = None
        if len(vectors):
            with np.errstate(over="ignore", invalid="ignore"):
                products = vectors @ query
            self.keyed = _keys(products, scale, float(norms.max()), query, metric)

    @property
    def usable(self) -> bool:
        """False when float32 overflowed (or nothing passes): use ``rank_block`` instead."""
        return self.keyed is not None

    def top(self, k: int) -> Candidates:
        """What ``rank_block`` returns for this query: a superset of the exact top ``k``."""
        assert self.keyed is not None
        key, tol = self.keyed
        kk = min(k, len(key))
        kth = float(np.partition(key, kk - 1)[kk - 1])
        cand = np.flatnonzero(key <= _ceil32(kth + tol)).astype(np.int64)
        exact = exact_distances(self.vectors[cand], self.query, self.metric)
        cut = np.partition(exact, kk - 1)[kk - 1]
        keep = exact <= cut
        cand, exact = cand[keep], exact[keep]
        if self.positions is not None:
            cand = self.positions[cand]
        return Candidates(cand, exact)

    def ranks(self, targets: I64) -> tuple[I64, F64]:
        """The exact rank (from 1, by (distance, id) among the allowed rows) and distance of
        each row at a block position in ``targets`` (allowed rows)."""
        assert self.keyed is not None
        key, tol = self.keyed
        local = targets if self.positions is None else np.searchsorted(self.positions, targets)
        distances = exact_distances(self.vectors[local], self.query, self.metric)
        own_ids = [self.block.ids[int(t)] for t in targets.tolist()]
        # A target's own key is within the bound of its exact value: bands around it.
        before = self._before(key[local].astype(np.float64), tol, distances, own_ids)
        return 1 + before, distances

    def closer_than(self, distances: F64, ids: list[str]) -> I64:
        """For each (float64 distance, id) pair, from any block or none, how many allowed
        rows of this block come before it by (distance, id); a row with that very id and
        distance is not counted. Summed over the chunks of a collection, 1 + that is the
        pair's exact rank in it (how a streamed scan ranks given items)."""
        assert self.keyed is not None
        _, tol = self.keyed
        if self.metric == "cosine":
            centre = self.query_norm * (distances - 1.0)
        elif self.metric == "l2":
            centre = distances * distances - self.query_norm * self.query_norm
        else:
            centre = distances.copy()
        # Known only through its float64 distance, a pair's key carries the float64 error
        # twice more than a row's own key: twice the band covers it (docs/ranking.md).
        return self._before(centre, 2.0 * tol, distances, ids)

    def _before(self, centre: F64, tol: float, distances: F64, own_ids: list[str]) -> I64:
        """Rows before each (distance, id): surely closer below ``centre - tol``, the band
        within ``tol`` of ``centre`` rescored and compared, ties by id."""
        assert self.keyed is not None
        key = self.keyed[0]
        # Per target, two comparisons over the keys: a count of the rows surely closer and
        # the band to rescore. No ordering of the block (an argsort of 100k keys cost more
        # than all the targets' passes together, measured in bench/text.py).
        lows, highs = _outward(centre - tol, centre + tol)
        before = np.empty(len(centre), dtype=np.int64)
        bands: list[I64] = []
        for t, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
            surely_closer = key < lo
            before[t] = np.count_nonzero(surely_closer)
            # lo <= hi, so every surely closer row is also <= hi: the xor is the band.
            bands.append(np.flatnonzero((key <= hi) ^ surely_closer))
        if not bands:
            return before
        # Near targets share their bands: each row is rescored once.
        rows, where = np.unique(np.concatenate(bands), return_inverse=True)
        rescored = exact_distances(self.vectors[rows], self.query, self.metric)[where]
        ids, positions, at = self.block.ids, self.positions, 0
        for t, band in enumerate(bands):
            band_distance, at = rescored[at : at + len(band)], at + len(band)
            d = distances[t]
            before[t] += int(np.count_nonzero(band_distance < d))
            for tied in band[band_distance == d].tolist():
                before[t] += ids[tied if positions is None else int(positions[tied])] < own_ids[t]
        return before


def _outward(lo: F64, hi: F64) -> tuple[F32, F32]:
    """The intervals ``[lo, hi]`` widened to float32 ends: a float32 key below ``lo32`` is
    below ``lo``, one above ``hi32`` is above ``hi`` (rounding to nearest could move an end
    inward, and the float32 keys are compared with float32 ends)."""
    with np.errstate(over="ignore"):  # past float32's range an end is infinite: still outward
        lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)
    lo32 = np.where(lo32.astype(np.float64) > lo, np.nextafter(lo32, np.float32(-np.inf)), lo32)
    hi32 = np.where(hi32.astype(np.float64) < hi, np.nextafter(hi32, np.float32(np.inf)), hi32)
    return lo32, hi32


def _no_candidates() -> Candidates:
    return Candidates(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
