"""nighdb as a LlamaIndex vector store (contract §18; ``pip install 'nighdb[llamaindex]'``).

::

    from llama_index.core import StorageContext, VectorStoreIndex
    from nighdb.integrations.llamaindex import NighVectorStore

    vector_store = NighVectorStore(url="sqlite:///rag.db", tenant="acme", collection="docs",
                                   embedding_model="BAAI/bge-small-en-v1.5")
    index = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=vector_store)
    )

A node is an item: its ``node_id`` the item id, its embedding the vector, its text (without
metadata) the item's text, and the metadata LlamaIndex's own stores keep (the node's metadata
at the top level, so filters reach it, plus ``ref_doc_id`` and the serialised node) as the
item's metadata. Queries rebuild the nodes from that, so every node type round-trips.

LlamaIndex does not tell a vector store which embedding model made the vectors, so the pin's
model is the ``embedding_model`` given here (``""``: the pin does not constrain the model).
The collection is created on the first ``add``, with the first embedding's length.

Async methods run the store calls in a worker thread, as ``nighdb.open_async_store`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from pydantic import PrivateAttr

from .. import Collection, CollectionNotFoundError, InvalidArgumentError, Match, Store, open_store
from .llamaindex_filters import to_nigh_filter
from .mmr import check_mmr_arguments, mmr_order

__all__ = ["NighVectorStore"]

DEFAULT_MMR_LAMBDA = 0.5
_SCROLL_PAGE = 1000


class NighVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over one nighdb collection of one tenant."""

    stores_text: bool = True
    flat_metadata: bool = False
    url: str | None = None
    tenant: str
    collection: str
    embedding_model: str = ""
    metric: str | None = None

    _store: Store = PrivateAttr()
    _pin: Collection | None = PrivateAttr(default=None)

    def __init__(
        self,
        *,
        url: str | None = None,
        tenant: str,
        collection: str,
        embedding_model: str = "",
        metric: str | None = None,
        **store_options: Any,
    ) -> None:
        """``metric`` is used when the collection is created (default ``cosine``; an existing
        collection keeps its own). ``store_options`` go to ``nighdb.open_store``."""
        fields: dict[str, Any] = {
            "url": url,
            "tenant": tenant,
            "collection": collection,
            "embedding_model": embedding_model,
            "metric": metric,
        }
        super().__init__(**fields)
        self._store = open_store(url, **store_options)

    @classmethod
    def class_name(cls) -> str:
        return "NighVectorStore"

    @property
    def client(self) -> Store:
        """The nighdb store underneath."""
        return self._store

    def close(self) -> None:
        self._store.close()

    # -- writing -------------------------------------------------------------------------

    def _ensure(self, dimensions: int) -> None:
        if self._pin is not None:
            return
        metric = self.metric
        if metric is None:
            existing = self._store.describe_collection(self.tenant, self.collection)
            metric = existing.metric if existing is not None else "cosine"
        self._pin = self._store.ensure_collection(
            self.tenant, Collection(self.collection, dimensions, self.embedding_model, metric)
        )

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert the nodes (each with its embedding), all or nothing; returns their ids."""
        _no_options("add", add_kwargs)
        items: list[dict[str, Any]] = []
        for node in nodes:
            if node.embedding is None:
                raise InvalidArgumentError(
                    f"node {node.node_id!r} has no embedding; embed nodes before adding them"
                )
            metadata = node_to_metadata_dict(
                node, remove_text=True, flat_metadata=self.flat_metadata
            )
            text = node.get_content(metadata_mode=MetadataMode.NONE)
            items.append(
                {"id": node.node_id, "vector": node.embedding, "metadata": metadata, "text": text}
            )
        if not items:
            return []
        self._ensure(len(items[0]["vector"]))
        self._store.upsert(self.tenant, self.collection, items)
        return [item["id"] for item in items]

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    def _delete_where(self, filter: Mapping[str, Any]) -> None:
        # A collection that was never created has nothing to delete.
        with contextlib.suppress(CollectionNotFoundError):
            self._store.delete(self.tenant, self.collection, filter=filter)

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id``."""
        _no_options("delete", delete_kwargs)
        self._delete_where({"ref_doc_id": ref_doc_id})

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with these ids, or that pass ``filters``, or both at once."""
        _no_options("delete_nodes", delete_kwargs)
        selection = _selection(node_ids, filters)
        if selection is None:  # never "everything" by omission: clear() says it
            raise InvalidArgumentError("delete_nodes needs node_ids or filters; clear() empties")
        self._delete_where(selection)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    def clear(self) -> None:
        """Delete every node (the collection and its pin stay)."""
        self._delete_where({})

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    # -- reading -------------------------------------------------------------------------

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """The stored nodes with these ids and/or passing ``filters`` (all when neither),
        in id order."""
        selection = _selection(node_ids, filters)
        nodes: list[BaseNode] = []
        after: str | None = None
        try:
            while page := self._store.scroll(
                self.tenant, self.collection, filter=selection, after=after, limit=_SCROLL_PAGE
            ):
                nodes.extend(_node(item.id, item.metadata, item.text) for item in page)
                after = page[-1].id
        except CollectionNotFoundError:
            return []
        return nodes

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Exact nearest neighbours (mode ``DEFAULT``) or maximal marginal relevance (``MMR``:
        the query's ``mmr_threshold``, or the ``mmr_threshold=`` option a retriever passes
        through ``vector_store_kwargs``, is lambda, default 0.5; ``mmr_prefetch_k=`` is the
        number of candidates, default ``max(20, 4 * similarity_top_k)``)."""
        fetch_k = kwargs.pop("mmr_prefetch_k", None)
        threshold = kwargs.pop("mmr_threshold", None)
        if query.mmr_threshold is not None:
            threshold = query.mmr_threshold
        _no_options("query", kwargs)
        if query.mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            raise InvalidArgumentError(
                f"query mode {query.mode.value!r} is not supported; use default or mmr"
            )
        if query.query_embedding is None:
            raise InvalidArgumentError("the query has no embedding: nighdb searches by vector")
        k = query.similarity_top_k
        # An empty id list in a query means "no restriction": VectorStoreIndex's retriever
        # passes node_ids=[] whenever the vector store keeps the text itself.
        filter = _selection(query.node_ids or None, query.filters, query.doc_ids or None)
        vector = query.query_embedding
        try:
            if query.mode == VectorStoreQueryMode.MMR:
                matches = self._mmr(vector, k, fetch_k, threshold, filter)
            else:
                if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                    raise InvalidArgumentError(f"similarity_top_k must be >= 1, got {k!r}")
                matches = self._store.search(
                    self.tenant, self.collection, vector, limit=k, filter=filter
                )
        except CollectionNotFoundError:
            matches = []
        return VectorStoreQueryResult(
            nodes=[_node(m.id, m.metadata, m.text) for m in matches],
            similarities=[m.score for m in matches],
            ids=[m.id for m in matches],
        )

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await asyncio.to_thread(self.query, query, **kwargs)

    def _mmr(
        self,
        vector: Sequence[float],
        k: int,
        fetch_k: int | None,
        threshold: float | None,
        filter: Mapping[str, Any] | None,
    ) -> list[Match]:
        lambda_mult = DEFAULT_MMR_LAMBDA if threshold is None else threshold
        fetch_k = max(20, 4 * k) if fetch_k is None else fetch_k
        check_mmr_arguments(k, fetch_k, lambda_mult)
        matches = self._store.search(
            self.tenant, self.collection, vector, limit=max(k, fetch_k), filter=filter
        )
        stored = self._store.fetch(self.tenant, self.collection, [m.id for m in matches])
        vectors = {item.id: item.vector for item in stored}
        candidates = [m for m in matches if m.id in vectors]
        picks = mmr_order(vector, [vectors[m.id] for m in candidates], k=k, lambda_mult=lambda_mult)
        return [candidates[i] for i in picks]


def _node(item_id: str, metadata: Mapping[str, Any], text: str) -> BaseNode:
    """The node an item holds: rebuilt from LlamaIndex's serialised node when this adapter
    wrote it, else a ``TextNode`` of the item's text and metadata (an item written by
    ``nigh import``, ``nigh import-from`` or another client)."""
    if "_node_content" in metadata:
        return metadata_dict_to_node(dict(metadata), text=text)
    return TextNode(id_=item_id, text=text, metadata=dict(metadata))


def _selection(
    node_ids: Sequence[str] | None,
    filters: MetadataFilters | None,
    doc_ids: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """One nighdb filter for node ids, source document ids and metadata filters (ANDed)."""
    parts: list[dict[str, Any]] = []
    if node_ids is not None:
        parts.append({"id": {"in": list(node_ids)}})
    if doc_ids is not None:
        parts.append({"ref_doc_id": {"in": list(doc_ids)}})
    translated = to_nigh_filter(filters)
    if translated is not None:
        parts.append(translated)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _no_options(method: str, options: Mapping[str, Any]) -> None:
    if options:
        names = ", ".join(sorted(repr(name) for name in options))
        raise InvalidArgumentError(f"{method} got unsupported options {names}")
