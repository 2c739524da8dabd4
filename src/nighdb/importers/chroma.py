"""Import a collection of a Chroma persistent directory (``chromadb.PersistentClient``).

Chroma's client reads the directory (it may apply its own schema migrations to it, as any
Chroma client opening it would). Items are read in pages ordered by Chroma's insertion
sequence. Chroma's distance spaces map to nighdb's metrics by what they rank: ``l2`` (Chroma
ranks by squared L2, the same order) → ``l2``, ``cosine`` → ``cosine``, ``ip`` (Chroma's
``1 - a·b``, the same order) → ``ip``; nighdb's distances are those of contract §1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..lines import Header, Record
from ..store import Store
from ..transfer import DEFAULT_BATCH_SIZE, SILENT, ImportResult, Progress, import_records

__all__ = ["chroma_records", "import_chroma"]

_METRICS = {"l2": "l2", "cosine": "cosine", "ip": "ip"}


def _client(path: str) -> Any:
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError as exc:
        raise InvalidArgumentError(
            "importing from Chroma needs the chroma extra: pip install 'nighdb[chroma]'"
        ) from exc
    # No telemetry: an import must not reach out to anything but the directory.
    return chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))


def _space(collection: Any) -> str:
    configuration = getattr(collection, "configuration_json", None) or {}
    hnsw = configuration.get("hnsw") or {}
    space = hnsw.get("space") or (collection.metadata or {}).get("hnsw:space") or "l2"
    if space not in _METRICS:
        raise InvalidArgumentError(f"Chroma distance space {space!r} has no nighdb metric")
    return _METRICS[str(space)]


def chroma_records(path: str, name: str, *, page: int = DEFAULT_BATCH_SIZE) -> Iterator[Record]:
    """A header, then one record per item of Chroma collection ``name`` under ``path``."""
    client = _client(path)
    try:
        collection = client.get_collection(name)
    except Exception as exc:  # Chroma raises NotFoundError/ValueError by version
        raise InvalidArgumentError(
            f"no Chroma collection {name!r} in {path}: {exc}; the collections there are "
            f"{sorted(c.name for c in client.list_collections())}"
        ) from None
    metric = _space(collection)
    offset = 0
    header_sent = False
    while True:
        got = collection.get(
            include=["embeddings", "metadatas", "documents"], limit=page, offset=offset
        )
        ids = got["ids"]
        if not header_sent:
            vectors = got["embeddings"]
            dimensions = len(vectors[0]) if ids else 0
            yield Record(0, {}, 0, Header(0, name, dimensions, "", metric))
            header_sent = True
        if not ids:
            return
        # Chroma keeps float32 and hands back float64 copies of them: casting back is exact.
        matrix = np.asarray(got["embeddings"], dtype=np.float32)
        documents = got["documents"] or [None] * len(ids)
        metadatas = got["metadatas"] or [None] * len(ids)
        for i, item_id in enumerate(ids):
            item = {
                "id": item_id,
                "vector": matrix[i],
                "metadata": dict(metadatas[i] or {}),
                "text": documents[i] or "",
            }
            yield Record(offset + i + 1, item, matrix[i].nbytes)
        offset += len(ids)


def import_chroma(
    store: Store,
    tenant: str,
    collection: str,
    path: str,
    *,
    source_collection: str | None = None,
    model: str | None = None,
    metric: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = SILENT,
) -> ImportResult:
    """Copy Chroma collection ``source_collection`` (default: ``collection``) from the
    persistent directory ``path`` into ``tenant``/``collection``."""
    name = source_collection or collection
    return import_records(
        store,
        tenant,
        collection,
        chroma_records(path, name, page=batch_size),
        source=f"Chroma collection {name!r} in {path}",
        model=model,
        metric=metric,
        batch_size=batch_size,
        progress=progress,
    )
