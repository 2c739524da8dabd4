"""An int8 copy of a collection, scanned with SIMD kernels, that still ranks exactly.

A collection whose float32 copy does not fit the cache budget keeps a quarter-size copy
instead: each vector ``x`` becomes ``s * a`` with ``a`` int8 codes and ``s = max|x_i| / 127``
(per-vector scale). The query is quantized the same way (``q = t * b + f``) and one integer
product ``a . b`` per row comes from numkong's SIMD kernels (exact: int32 sums of int8
products, dims <= 16000). docs/quantized.md derives the bound used here:

    |x . q - s t (a . b)|  <=  |s a| |f| + |x - s a| |q|

which gives every row a lower and an upper bound on its true distance. A row whose lower
bound exceeds the ``k``-th smallest upper bound cannot be in the top ``k``; the others are
rescored exactly in float64 from the stored float32 (``ranking.exact_distances``, the same
function as every other path), lowest lower bound first, until the next lower bound exceeds
the ``k``-th exact distance found. The result is the exact top ``k``, ties by id.

The copy is derived data tagged with the collection version it reflects, refreshed from the
rows written since (like the float32 copy), and persisted beside the database so the first
search after opening need not rebuild it (``persisted``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import cast

import apsw
import numkong
import numpy as np
import numpy.typing as npt

from ...models import F32
from ...ranking import Hit, exact_distances

__all__ = [
    "QuantizedBlock",
    "quantize",
    "quantized_bytes",
    "search_quantized",
    "search_quantized_many",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
Mask = npt.NDArray[np.bool_]

_LEVELS = 127.0  # symmetric codes in [-127, 127]: -128 is never used
# Slack that covers float64 rounding in the bounds and in the exact distances themselves
# (each at most dims * 2**-53 relative, < 2e-12 at 16,000 dims): see docs/quantized.md.
_REL_SLACK = 1e-6
_ABS_SLACK = 1e-9
# Bytes per row besides the codes: rowid, four float64 columns, and up to five float64
# scan factors (``QuantizedBlock.factors``).
_ROW_OVERHEAD = 8 * 5 + 8 * 5
# Rows quantized at once while building: bounds the float64 temporaries to a few MiB each
# (with 16,384 rows the 1M x 384 build peaked at ~830 MB of RSS).
_BUILD_ROWS = 2048
# Rows rescored per SQLite read; doubles while the lower bounds still admit more.
_FIRST_RESCORE = 64
# A filter passing fewer than 1 row in this many gathers the passing rows' codes.
_GATHER_BELOW = 16
# Queries of one ``search_many`` scanned together (8 measured fastest per query with
# numkong's packed kernel on AVX2: about 3x a one-query scan), and rows per kernel call.
_QUERY_GROUP = 8
_GROUP_ROWS = 65536


def quantized_bytes(rows: int, dims: int) -> int:
    """The memory an int8 copy of ``rows`` vectors of ``dims`` keeps alive."""
    return rows * (dims + _ROW_OVERHEAD)


@dataclass(frozen=True)
class QuantizedBlock:
    """Row ``i`` (SQLite ``rowids[i]``) is approximately ``scales[i] * codes[i]``."""

    rowids: I64
    codes: I8
    scales: F64
    code_norms: F64  # |s a|, the norm of the approximation
    residuals: F64  # |x - s a|, computed in float64 from the stored float32
    norms: F64  # |x|

    # The scan factors of each metric, prepared on first use (``factors``).
    _factors: dict[str, tuple[F64, ...]] = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def nbytes(self) -> int:
        """The memory kept alive, the scan factors of one metric included (``quantized_bytes``)."""
        return quantized_bytes(len(self), int(self.codes.shape[1]))

    def factors(self, metric: str) -> tuple[F64, ...]:
        """Per-row factors of the closeness bounds (``_closeness``), prepared once per metric:
        ``(a, b, c)`` and for l2 also ``(g_high, g_low)``, from docs/quantized.md's bound:

        * ip: a = s, b = |s a|(1 + rel), c = |x - s a|(1 + rel) + abs |x|;
        * cosine: the same divided by |x|, abs added after the division;
        * l2: as ip, and g = -|x|^2 / 2 +- abs |x|^2 / 2 for the squared norm term.
        """
        found = self._factors.get(metric)
        if found is None:
            grow = 1.0 + _REL_SLACK
            a, b = self.scales, self.code_norms * grow
            c = self.residuals * grow
            if metric == "cosine":
                # Zero vectors never reach a cosine collection; guard the division anyway.
                inverse = np.divide(1.0, self.norms, out=np.zeros(len(self)), where=self.norms > 0)
                found = (a * inverse, b * inverse, c * inverse + _ABS_SLACK)
            else:
                c += _ABS_SLACK * self.norms
                found = (a, b, c)
                if metric == "l2":
                    half = self.norms * self.norms / 2.0
                    found += (-half + _ABS_SLACK * half, -half - _ABS_SLACK * half)
            self._factors[metric] = found
        return found

    def __len__(self) -> int:
        return len(self.rowids)

    def take(self, keep: Mask | I64) -> QuantizedBlock:
        return QuantizedBlock(
            self.rowids[keep],
            self.codes[keep],
            self.scales[keep],
            self.code_norms[keep],
            self.residuals[keep],
            self.norms[keep],
        )

    @staticmethod
    def concat(parts: list[QuantizedBlock]) -> QuantizedBlock:
        return QuantizedBlock(
            np.concatenate([p.rowids for p in parts]),
            np.concatenate([p.codes for p in parts]),
            np.concatenate([p.scales for p in parts]),
            np.concatenate([p.code_norms for p in parts]),
            np.concatenate([p.residuals for p in parts]),
            np.concatenate([p.norms for p in parts]),
        )


def _codes(x: F64) -> tuple[I8, F64]:
    """Per-row int8 codes and scales of a float64 matrix (a zero row gets scale 1)."""
    peak = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(len(x))
    scales = np.where(peak > 0, peak / _LEVELS, 1.0)
    codes = np.clip(np.rint(x / scales[:, None]), -_LEVELS, _LEVELS).astype(np.int8)
    return codes, scales


def quantize(rowids: I64, vectors: F32) -> QuantizedBlock:
    """The int8 copy of ``vectors`` (float32, one row per ``rowids`` entry)."""
    parts = []
    for start in range(0, max(1, len(vectors)), _BUILD_ROWS):
        x = vectors[start : start + _BUILD_ROWS].astype(np.float64)
        codes, scales = _codes(x)
        approx = codes * scales[:, None]
        residual = x - approx
        parts.append(
            QuantizedBlock(
                rowids[start : start + _BUILD_ROWS].astype(np.int64),
                codes,
                scales,
                np.sqrt(np.einsum("ij,ij->i", approx, approx)),
                np.sqrt(np.einsum("ij,ij->i", residual, residual)),
                np.sqrt(np.einsum("ij,ij->i", x, x)),
            )
        )
    return parts[0] if len(parts) == 1 else QuantizedBlock.concat(parts)


@dataclass(frozen=True)
class _Query:
    """A query quantized as ``t * b + f``, with the scalars the bounds need."""

    codes: I8  # (1, dims)
    scale: float  # t
    norm: float  # |q|
    residual: float  # |f|

    @staticmethod
    def of(query: F32) -> _Query:
        q = query.astype(np.float64)[None, :]
        codes, scales = _codes(q)
        residual = float(np.linalg.norm(q[0] - codes[0] * scales[0]))
        return _Query(codes, float(scales[0]), float(np.sqrt(np.dot(q[0], q[0]))), residual)


def _closeness(
    block: QuantizedBlock,
    query: _Query,
    metric: str,
    rows: I64 | None,
    scan_all: bool,
    products: npt.NDArray[np.int32] | None = None,
) -> tuple[F64, F64]:
    """``(high, low)``: bounds on each row's closeness (of ``rows``, or of every row), a value
    that decreases as the distance grows (``_distances`` maps it back).

    The closeness is ``x . q`` (ip), ``x . q / |x||q|`` (cosine) or ``x . q - |x|^2 / 2``
    (l2), divided by a positive per-query constant so that each bound takes a few passes
    over per-row factors prepared once (``QuantizedBlock.factors``). With ``scan_all`` the
    kernel scans every row and ``rows`` picks from its results (cheaper than gathering
    most rows' codes); otherwise only ``rows``' codes are scanned. ``products``: every row's
    ``a . b``, when a scan shared by several queries computed them (``_group_products``).
    """
    factors = block.factors(metric)
    if products is not None:
        estimate = products.astype(np.float64) if rows is None else products[rows].astype(float)
    else:
        codes = block.codes if rows is None or scan_all else np.take(block.codes, rows, axis=0)
        scanned = np.empty((1, len(codes)), dtype=np.float64)
        if len(codes):
            # int8 x int8 -> exact integer sums, returned as float64 (exact below 2**53).
            numkong.cdist(query.codes, codes, metric="dot", out=scanned)
        estimate = scanned[0] if rows is None or not scan_all else scanned[0][rows]
    if rows is not None:
        factors = tuple(f[rows] for f in factors)
    a, b, c = factors[:3]
    estimate *= a
    t = query.scale
    error = np.multiply(b, query.residual / t)
    error += c * (query.norm / t)
    if metric == "l2":
        # factors[3] and [4]: -|x|^2/2 plus and minus its share of the slack.
        extra = _ABS_SLACK * query.norm * query.norm / (2.0 * t)
        high = estimate + error
        high += factors[3] / t
        high += extra
        low = np.subtract(estimate, error, out=error)
        low += factors[4] / t
        low -= extra
        return high, low
    low = np.subtract(estimate, error)
    high = np.add(estimate, error, out=error)
    return high, low


def _distances(closeness: F64, query: _Query, metric: str) -> F64:
    """The distance of a closeness value: decreasing, so a high bound gives a low one."""
    t = query.scale
    if metric == "ip":
        out: F64 = closeness * -t
        return out
    if metric == "cosine":
        cosine: F64 = np.clip(1.0 - closeness * (t / query.norm), 0.0, 2.0)
        return cosine
    squared = query.norm * query.norm - 2.0 * t * closeness
    l2: F64 = np.sqrt(np.maximum(squared, 0.0))
    return l2


def distance_bounds(block: QuantizedBlock, query: F32, metric: str) -> tuple[F64, F64]:
    """A lower and an upper bound on each row's exact distance to ``query``; docs/quantized.md
    proves them."""
    quantized = _Query.of(query)
    high, low = _closeness(block, quantized, metric, None, True)
    return _distances(high, quantized, metric), _distances(low, quantized, metric)


def _floor(metric: str, query: _Query) -> float:
    """The closeness at which the distance stops decreasing (cosine 0, l2 0), or -inf."""
    if metric == "cosine":
        return query.norm / query.scale
    if metric == "l2":
        return query.norm * query.norm / (2.0 * query.scale)
    return np.inf


def search_quantized(
    conn: apsw.Connection,
    table: str,
    block: QuantizedBlock,
    query: F32,
    metric: str,
    k: int,
    allowed: Mask | None,
) -> list[Hit]:
    """The exact top ``k`` of ``query`` among the ``allowed`` rows, ordered by (distance, id)."""
    rows, scan_all = _passing(block, allowed)
    return _search_one(conn, table, block, query, _Query.of(query), metric, k, rows, scan_all)


def search_quantized_many(
    conn: apsw.Connection,
    table: str,
    block: QuantizedBlock,
    queries: F32,
    metric: str,
    k: int,
    allowed: Mask | None,
) -> list[list[Hit]]:
    """``search_quantized`` for each row of ``queries``; groups of queries share one pass
    over the codes (numkong's packed kernel reads each row once for the whole group)."""
    rows, scan_all = _passing(block, allowed)
    if len(queries) < 2 or not scan_all or not len(block):
        return [search_quantized(conn, table, block, q, metric, k, allowed) for q in queries]
    out = []
    for start in range(0, len(queries), _QUERY_GROUP):
        group = queries[start : start + _QUERY_GROUP]
        quantized = [_Query.of(q) for q in group]
        products = _group_products(block.codes, quantized)
        for j, (query, q) in enumerate(zip(group, quantized, strict=True)):
            column = products[:, j]
            out.append(_search_one(conn, table, block, query, q, metric, k, rows, scan_all, column))
    return out


def _group_products(codes: I8, queries: list[_Query]) -> npt.NDArray[np.int32]:
    """Every row's exact ``a . b`` with each query, as an (rows, queries) int32 matrix."""
    packed = numkong.dots_pack(np.concatenate([q.codes for q in queries]))
    out = np.empty((len(codes), len(queries)), dtype=np.int32)
    for start in range(0, len(codes), _GROUP_ROWS):
        part = numkong.dots_packed(codes[start : start + _GROUP_ROWS], packed)
        out[start : start + _GROUP_ROWS] = np.asarray(part)
    return out


def _passing(block: QuantizedBlock, allowed: Mask | None) -> tuple[I64 | None, bool]:
    """The rows that pass the filter (None: all), and whether to scan every row anyway: a
    selective filter gathers the passing rows' codes; a wide one scans every row and keeps
    the passing rows' products (gathering most rows costs more than scanning them)."""
    if allowed is None:
        return None, True
    rows = np.flatnonzero(allowed).astype(np.int64)
    return rows, len(rows) * _GATHER_BELOW >= len(block)


def _search_one(
    conn: apsw.Connection,
    table: str,
    block: QuantizedBlock,
    query: F32,
    quantized: _Query,
    metric: str,
    k: int,
    rows: I64 | None,
    scan_all: bool,
    products: npt.NDArray[np.int32] | None = None,
) -> list[Hit]:
    n = len(block) if rows is None else len(rows)
    kk = min(k, n)
    if kk <= 0:
        return []
    high, low = _closeness(block, quantized, metric, rows, scan_all, products)
    # The k-th largest low bound is the k-th smallest upper bound on the distance.
    threshold = float(np.partition(low, n - kk)[n - kk])
    # Distances clip (cosine at 0 and 2, l2 at 0): compare closeness within the range
    # where the distance still moves, so a clipped tie at the cut stays a candidate.
    threshold = min(threshold, _floor(metric, quantized))
    if metric == "cosine" and threshold <= -quantized.norm / quantized.scale:
        cand = np.arange(n)
    else:
        cand = np.flatnonzero(high >= threshold)
    lower = _distances(high[cand], quantized, metric)
    order = np.argsort(lower, kind="stable")
    cand, lower = cand[order], lower[order]
    positions = cand if rows is None else rows[cand]
    best: list[Hit] = []
    start, size = 0, max(_FIRST_RESCORE, 4 * kk)
    while start < len(cand):
        # Every row left has a lower bound at least this one's: once it exceeds the k-th
        # exact distance found, none of them can enter the top k (equal might, by id).
        if len(best) == kk and lower[start] > best[-1][0]:
            break
        batch = block.rowids[positions[start : start + size]]
        best = sorted(best + _rescore(conn, table, batch, query, metric))[:kk]
        start += size
        size *= 2
    return best


def _rescore(conn: apsw.Connection, table: str, rowids: I64, query: F32, metric: str) -> list[Hit]:
    """Exact float64 distances of ``rowids`` from their stored float32 vectors."""
    rows = conn.execute(
        f"SELECT rowid, id, vector FROM {table} WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(rowids.tolist()),),
    ).fetchall()
    if not rows:
        return []
    dims = query.shape[0]
    vectors = np.frombuffer(b"".join(cast(bytes, r[2]) for r in rows), dtype="<f4")
    distances = exact_distances(vectors.reshape(-1, dims).astype(np.float32), query, metric)
    return [
        (float(d), str(r[1]), cast(int, r[0]))
        for d, r in zip(distances.tolist(), rows, strict=True)
    ]
