"""The int8 copy of a collection persisted beside the database, so a new process need not
rebuild it from every row before its first search.

The file is a cache, never a source of truth: ``load`` returns it only when its header names
the same collection (id, creation time, dimensions), a version no newer than the database's
with the token the database keeps for that version (``nigh_versions``: a restored backup
reaches the same version number again with other tokens, and other rows), and a checksum
that matches its contents; the caller then applies the rows written since that version.
Anything else (a torn, truncated or foreign file, or one of another history) is ignored and
replaced. ``save`` writes a temporary file and renames it over the old one, so a reader sees
either the old copy or the new, never half of one. It does not fsync: after a crash the file
may be empty or torn, which its length and checksum reveal, and a cache is not worth a sync.

Layout: ``MAGIC``, a 4-byte little-endian header length, the JSON header, then each array of
``QuantizedBlock`` in ``_DTYPES`` order as raw little-endian bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .quantized import QuantizedBlock

__all__ = ["load", "path_for", "save"]

MAGIC = b"NIGHINT8\x01"
_DTYPES: dict[str, np.dtype[Any]] = {
    "rowids": np.dtype("<i8"),
    "codes": np.dtype("i1"),
    "scales": np.dtype("<f8"),
    "code_norms": np.dtype("<f8"),
    "residuals": np.dtype("<f8"),
    "norms": np.dtype("<f8"),
}


def path_for(db_path: str, collection_id: int) -> Path:
    """Where a collection's int8 copy lives: beside the database, named from its integer id."""
    return Path(f"{db_path}-nigh-int8-{int(collection_id)}")


def save(
    path: Path,
    block: QuantizedBlock,
    *,
    collection_id: int,
    created_at: float,
    version: int,
    token: int | None,
) -> None:
    """Write ``block`` atomically; a failure (read-only folder, full disk) leaves no file."""
    arrays = [np.ascontiguousarray(getattr(block, f), dtype=t) for f, t in _DTYPES.items()]
    crc = 0
    for a in arrays:
        crc = zlib.crc32(a.data, crc)
    header = json.dumps(
        {
            "collection": collection_id,
            "created_at": created_at,
            "version": version,
            "token": token,
            "rows": len(block),
            "dims": int(block.codes.shape[1]),
            "crc32": crc,
        }
    ).encode()
    # One temporary name per process and thread: two threads may build the copy at once.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<I", len(header)) + header)
            for a in arrays:
                f.write(a.data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def load(
    path: Path,
    *,
    collection_id: int,
    created_at: float,
    dims: int,
    version: int,
    token_at: Callable[[int], int | None],
) -> tuple[int, QuantizedBlock] | None:
    """``(version, block)`` from ``path`` if it is a sound copy of this collection at a version
    no newer than ``version`` whose token is ``token_at(that version)``; None otherwise
    (absent, stale in the future, of another history, torn, foreign)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    head = len(MAGIC) + 4
    if len(data) < head or not data.startswith(MAGIC):
        return None
    (size,) = struct.unpack_from("<I", data, len(MAGIC))
    try:
        meta = json.loads(data[head : head + size])
        rows, saved_version, crc = int(meta["rows"]), int(meta["version"]), int(meta["crc32"])
        token = meta["token"]
        same = (
            int(meta["collection"]) == collection_id
            and float(meta["created_at"]) == created_at
            and int(meta["dims"]) == dims
        )
    except (ValueError, KeyError, TypeError):
        return None
    if not same or saved_version > version or rows < 0:
        return None
    if token is None or token != token_at(saved_version):
        return None
    offset = head + size
    arrays = {}
    check = 0
    for field, dtype in _DTYPES.items():
        count = rows * dims if field == "codes" else rows
        nbytes = count * dtype.itemsize
        if offset + nbytes > len(data):
            return None
        chunk = memoryview(data)[offset : offset + nbytes]
        check = zlib.crc32(chunk, check)
        arrays[field] = np.frombuffer(chunk, dtype=dtype)
        offset += nbytes
    if offset != len(data) or check != crc:
        return None
    block = QuantizedBlock(
        arrays["rowids"],
        arrays["codes"].reshape(rows, dims),
        arrays["scales"],
        arrays["code_norms"],
        arrays["residuals"],
        arrays["norms"],
    )
    return saved_version, block
