"""pgvector's binary wire format for numpy vectors, as psycopg adapters.

A ``vector`` in binary is ``uint16 dimensions, uint16 unused (0), dimensions x float32``, all
big-endian. nighdb sends query vectors, vector arrays and COPY rows this way and reads
result vectors straight into float32 arrays: no text formatting or parsing of floats, and
no per-row Python objects beyond the array. (pgvector-python's own loaders return its
``Vector`` class in some versions and arrays in others; owning these few lines keeps the
backend independent of that.)
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

__all__ = ["binary_fields", "from_binary", "register_vector"]

_HEADER = struct.Struct(">HH")
_BIG_ENDIAN_F4 = np.dtype(">f4")


class _VectorBinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Any) -> Buffer:
        values = np.asarray(obj, dtype=_BIG_ENDIAN_F4)
        return _HEADER.pack(values.shape[0], 0) + values.tobytes()


class _VectorBinaryLoader(Loader):
    format = Format.BINARY

    def load(self, data: Buffer) -> npt.NDArray[np.float32]:
        dims, _ = _HEADER.unpack_from(data)
        raw = np.frombuffer(data, dtype=_BIG_ENDIAN_F4, count=dims, offset=_HEADER.size)
        return raw.astype(np.float32)


def register_vector(context: AdaptContext, info: TypeInfo) -> None:
    """Adapt numpy arrays to and from ``vector`` (``info``, looked up once) on ``context``."""
    info.register(context)  # also teaches psycopg the vector[] array type
    # The oid on the dumper class lets COPY's set_types() find it by type.
    dumper = type("VectorDumper", (_VectorBinaryDumper,), {"oid": info.oid})
    context.adapters.register_dumper(np.ndarray, dumper)
    context.adapters.register_loader(info.oid, _VectorBinaryLoader)


def binary_fields(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """Each row as a length-prefixed binary ``vector`` field (int32 byte length, then the
    vector), built for all rows at once: row ``i`` of the byte matrix is item ``i``'s field,
    and the whole buffer is the elements of a binary ``vector[]``."""
    dims = matrix.shape[1]
    fields = np.empty(
        matrix.shape[0],
        dtype=[("size", ">i4"), ("dims", ">u2"), ("unused", ">u2"), ("values", ">f4", (dims,))],
    )
    fields["size"] = _HEADER.size + 4 * dims
    fields["dims"] = dims
    fields["unused"] = 0
    fields["values"] = matrix
    return fields.view(np.uint8).reshape(matrix.shape[0], -1)


def from_binary(values: list[bytes], dims: int) -> npt.NDArray[np.float32]:
    """Binary ``vector`` values of ``dims`` dimensions (as ``vector_send`` returns them) as
    one float32 matrix, decoded at once rather than one array per value."""
    raw = np.frombuffer(b"".join(values), dtype=np.uint8)
    matrix = raw.reshape(len(values), _HEADER.size + 4 * dims)[:, _HEADER.size :]
    return np.ascontiguousarray(matrix).view(_BIG_ENDIAN_F4).astype(np.float32)
