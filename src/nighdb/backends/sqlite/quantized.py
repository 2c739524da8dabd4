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
from dataclasses import dataclass
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
# Bytes per row besides the codes: rowid and four float64 columns.
_ROW_OVERHEAD = 8 * 5
# Rows quantized at once while building: bounds the float64 temporaries.
_BUILD_ROWS = 16384
# Rows rescored per SQLite read; doubles while the lower bounds still admit more.
_FIRST_RESCORE = 64


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

    @functools.cached_property
    def nbytes(self) -> int:
        arrays = (self.rowids, self.codes, self.scales, self.code_norms, self.residuals, self.norms)
        return int(sum(a.nbytes for a in arrays))

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
        return QuantizedBlock(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))


_FIELDS = ("rowids", "codes", "scales", "code_norms", "residuals", "norms")


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
        parts.append(
            QuantizedBlock(
                rowids[start : start + _BUILD_ROWS].astype(np.int64),
                codes,
                scales,
                np.sqrt(np.einsum("ij,ij->i", approx, approx)),
                np.sqrt(np.einsum("ij,ij->i", x - approx, x - approx)),
                np.sqrt(np.einsum("ij,ij->i", x, x)),
            )
        )
    return parts[0] if len(parts) == 1 else QuantizedBlock.concat(parts)


def distance_bounds(
    block: QuantizedBlock, query: F32, metric: str, rows: I64 | None = None
) -> tuple[F64, F64]:
    """A lower and an upper bound on each row's exact distance to ``query`` (of ``rows``, or
    of every row). docs/quantized.md proves them."""
    q = query.astype(np.float64)[None, :]
    qcodes, qscale = _codes(q)
    q_norm = float(np.sqrt(np.dot(q[0], q[0])))
    q_residual = float(np.linalg.norm(q[0] - qcodes[0] * qscale[0]))
    part = block if rows is None else block.take(rows)
    products = np.empty((1, len(part)), dtype=np.float64)
    if len(part):
        # int8 x int8 -> exact integer sums, returned as float64 (exact below 2**53).
        numkong.cdist(qcodes, part.codes, metric="dot", out=products)
    estimate = products[0] * (part.scales * float(qscale[0]))
    error = part.code_norms * q_residual + part.residuals * q_norm
    error *= 1.0 + _REL_SLACK
    error += _ABS_SLACK * part.norms * q_norm
    high, low = estimate + error, estimate - error  # bounds on the true x . q
    if metric == "ip":
        return -high, -low
    if metric == "cosine":
        denom = part.norms * q_norm
        lower = np.clip(1.0 - high / denom, 0.0, 2.0)
        upper = np.clip(1.0 - low / denom, 0.0, 2.0)
        return lower, upper
    squares = part.norms * part.norms + q_norm * q_norm
    squares_slack = _ABS_SLACK * squares
    lower = np.sqrt(np.maximum(squares - 2.0 * high - squares_slack, 0.0))
    upper = np.sqrt(np.maximum(squares - 2.0 * low + squares_slack, 0.0))
    return lower, upper


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
    rows: I64 | None = None
    if allowed is not None:
        rows = np.flatnonzero(allowed).astype(np.int64)
        if len(rows) * 2 > len(block):
            rows = None  # a full scan with the others masked beats gathering most rows
    n = len(block) if rows is None else len(rows)
    kk = min(k, n if allowed is None or rows is not None else int(allowed.sum()))
    if kk <= 0:
        return []
    lower, upper = distance_bounds(block, query, metric, rows)
    if allowed is not None and rows is None:
        lower[~allowed] = np.inf
        upper[~allowed] = np.inf
    threshold = np.partition(upper, kk - 1)[kk - 1]
    cand = np.flatnonzero(lower <= threshold)
    cand = cand[np.argsort(lower[cand], kind="stable")]
    positions = cand if rows is None else rows[cand]
    best: list[Hit] = []
    start, size = 0, max(_FIRST_RESCORE, 4 * kk)
    while start < len(cand):
        # Every row left has a lower bound at least this one's: once it exceeds the k-th
        # exact distance found, none of them can enter the top k (equal might, by id).
        if len(best) == kk and lower[cand[start]] > best[-1][0]:
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
