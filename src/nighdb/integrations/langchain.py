"""nighdb as a LangChain ``VectorStore`` (contract §18; ``pip install 'nighdb[langchain]'``).

::

    from nighdb.integrations.langchain import NighVectorStore

    store = NighVectorStore(embeddings, url="sqlite:///rag.db", tenant="acme", collection="docs")
    store.add_documents(documents)
    store.similarity_search("what is a pin?", k=4, filter={"source": {"$in": ["a.md", "b.md"]}})

One adapter over every store URL (``None``: ``$NIGH_STORE``, else ``sqlite:///./nigh.db``) and
one tenant/collection. A document is an item: its ``id`` the item id (a new UUID when it has
none), ``page_content`` the item's text, ``metadata`` the item's metadata (a JSON object).

The collection is created on the first write, with the dimensions of the first embedding and
the embedding's model name (its ``model``/``model_name`` attribute, or ``embedding_model=``)
pinned as ``embedding_model``: a store opened later with a different model is refused
(``CollectionConflictError``) instead of mixing two vector spaces. Until then the collection
does not exist, and reading it finds nothing.

Async methods await the embedding's async API and run the store's calls in a worker thread,
the same way ``nighdb.open_async_store`` does: nighdb's drivers are synchronous and release the
GIL while they wait, so one store serves both kinds of caller.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from .. import Collection, CollectionNotFoundError, InvalidArgumentError, Match, open_store
from .langchain_filters import to_nigh_filter
from .mmr import check_mmr_arguments, mmr_order

__all__ = ["NighVectorStore", "embedding_model_name"]


def embedding_model_name(embedding: object) -> str:
    """The model an embedding object names (``model``, ``model_name`` or ``model_id``), or
    ``""`` when it names none (the pin then does not constrain the model)."""
    for attribute in ("model", "model_name", "model_id"):
        value = getattr(embedding, attribute, None)
        if isinstance(value, str) and value:
            return value
    return ""


class NighVectorStore(VectorStore):
    """A LangChain vector store over one nighdb collection of one tenant."""

    def __init__(
        self,
        embedding: Embeddings,
        *,
        url: str | None = None,
        tenant: str,
        collection: str,
        metric: str | None = None,
        embedding_model: str | None = None,
        **store_options: Any,
    ) -> None:
        """``metric`` is used when the collection is created (default ``cosine``; an existing
        collection keeps its own). ``store_options`` go to ``nighdb.open_store``."""
        self._embedding = embedding
        self.tenant = tenant
        self.collection = collection
        self._metric = metric
        self._model = (
            embedding_model_name(embedding) if embedding_model is None else embedding_model
        )
        self.store = open_store(url, **store_options)
        self._pin: Collection | None = None

    # -- life cycle ---------------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    def close(self) -> None:
        """Close the underlying store (its connections, or its HTTP client)."""
        self.store.close()

    def __enter__(self) -> NighVectorStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> NighVectorStore:
        """A store built from ``texts``; ``tenant=`` and ``collection=`` are required,
        ``url=`` and the other ``__init__`` options are accepted."""
        for required in ("tenant", "collection"):
            if required not in kwargs:
                raise InvalidArgumentError(f"from_texts needs {required}=")
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    # -- the collection ------------------------------------------------------------------

    def _ensure(self, dimensions: int) -> None:
        """Create the collection (or check its pin) before the first write."""
        if self._pin is not None:
            return
        metric = self._metric
        if metric is None:
            existing = self.store.describe_collection(self.tenant, self.collection)
            metric = existing.metric if existing is not None else "cosine"
        self._pin = self.store.ensure_collection(
            self.tenant, Collection(self.collection, dimensions, self._model, metric)
        )

    def _stored_metric(self) -> str:
        if self._pin is None:
            self._pin = self.store.describe_collection(self.tenant, self.collection)
        if self._pin is not None:
            return self._pin.metric
        return self._metric or "cosine"

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Relevance in [0, 1] from nighdb's raw distance, by the collection's metric."""
        return {
            "cosine": self._cosine_relevance_score_fn,
            "l2": self._euclidean_relevance_score_fn,
            "ip": self._max_inner_product_relevance_score_fn,
        }[self._stored_metric()]

    # -- writing -------------------------------------------------------------------------

    def _write(
        self,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]] | None,
        ids: Sequence[str | None] | None,
        vectors: Sequence[Sequence[float]],
    ) -> list[str]:
        if metadatas is not None and len(metadatas) != len(texts):
            raise InvalidArgumentError(
                f"got {len(metadatas)} metadatas for {len(texts)} texts; give one per text"
            )
        if ids is not None and len(ids) != len(texts):
            raise InvalidArgumentError(f"got {len(ids)} ids for {len(texts)} texts")
        if len(vectors) != len(texts):
            raise InvalidArgumentError(
                f"the embedding returned {len(vectors)} vectors for {len(texts)} texts"
            )
        if not texts:
            return []
        chosen = [
            given if given else str(uuid.uuid4())
            for given in (ids if ids is not None else [None] * len(texts))
        ]
        items = [
            {
                "id": item_id,
                "vector": vector,
                "metadata": dict(metadatas[i]) if metadatas is not None else {},
                "text": texts[i],
            }
            for i, (item_id, vector) in enumerate(zip(chosen, vectors, strict=True))
        ]
        self._ensure(len(vectors[0]))
        self.store.upsert(self.tenant, self.collection, items)
        return chosen

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed ``texts`` and upsert them (all or nothing); returns their ids."""
        _no_options("add_texts", kwargs)
        texts = list(texts)
        vectors = self._embedding.embed_documents(texts) if texts else []
        return self._write(texts, metadatas, ids, vectors)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        _no_options("aadd_texts", kwargs)
        texts = list(texts)
        vectors = await self._embedding.aembed_documents(texts) if texts else []
        return await asyncio.to_thread(self._write, texts, metadatas, ids, vectors)

    def _delete(self, ids: list[str] | None, options: dict[str, Any]) -> bool:
        filter = options.pop("filter", None)
        _no_options("delete", options)
        if ids is not None and filter is not None:
            raise InvalidArgumentError("delete takes ids or filter=, not both")
        try:
            if ids is not None:
                self.store.delete(self.tenant, self.collection, list(ids))
            else:  # LangChain: no ids means every document (narrowed by a filter if given)
                self.store.delete(self.tenant, self.collection, filter=to_nigh_filter(filter) or {})
        except CollectionNotFoundError:
            pass  # nothing was ever written: nothing to delete
        return True

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Delete by ``ids``, or by ``filter=`` (LangChain or nighdb syntax), or everything
        when given neither. Unknown ids are ignored."""
        return self._delete(ids, dict(kwargs))

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        return await asyncio.to_thread(self._delete, ids, dict(kwargs))

    # -- reading -------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents with these ids, in the order asked; unknown ids are skipped."""
        try:
            items = self.store.fetch(self.tenant, self.collection, list(ids))
        except CollectionNotFoundError:
            return []
        return [
            Document(id=item.id, page_content=item.text, metadata=dict(item.metadata))
            for item in items
        ]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return await asyncio.to_thread(self.get_by_ids, ids)

    def _search(
        self, vector: Sequence[float], k: int, options: dict[str, Any]
    ) -> list[tuple[Document, float]]:
        """Documents and raw distances (lower is closer), closest first."""
        filter = to_nigh_filter(options.pop("filter", None))
        _no_options("similarity search", options)
        _check_k(k)
        try:
            matches = self.store.search(
                self.tenant, self.collection, vector, limit=k, filter=filter
            )
        except CollectionNotFoundError:
            return []
        return [(_document(match), match.distance) for match in matches]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` closest documents with their distance under the collection's metric."""
        return self._search(self._embedding.embed_query(query), k, dict(kwargs))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = await self._embedding.aembed_query(query)
        return await asyncio.to_thread(self._search, vector, k, dict(kwargs))

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        found = await self.asimilarity_search_with_score(query, k, **kwargs)
        return [doc for doc, _ in found]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        return [doc for doc, _ in self._search(embedding, k, dict(kwargs))]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        found = await asyncio.to_thread(self._search, embedding, k, dict(kwargs))
        return [doc for doc, _ in found]

    # -- maximal marginal relevance ------------------------------------------------------

    def _mmr(
        self,
        vector: Sequence[float],
        k: int,
        fetch_k: int,
        lambda_mult: float,
        options: dict[str, Any],
    ) -> list[Document]:
        check_mmr_arguments(k, fetch_k, lambda_mult)
        filter = to_nigh_filter(options.pop("filter", None))
        _no_options("max_marginal_relevance_search", options)
        try:
            matches = self.store.search(
                self.tenant, self.collection, vector, limit=max(k, fetch_k), filter=filter
            )
            stored = self.store.fetch(self.tenant, self.collection, [m.id for m in matches])
        except CollectionNotFoundError:
            return []
        vectors = {item.id: item.vector for item in stored}
        # An item deleted between the two calls has no vector: it is left out.
        candidates = [m for m in matches if m.id in vectors]
        picks = mmr_order(vector, [vectors[m.id] for m in candidates], k=k, lambda_mult=lambda_mult)
        return [_document(candidates[i]) for i in picks]

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR over the ``fetch_k`` closest documents, with their stored vectors."""
        return self._mmr(embedding, k, fetch_k, lambda_mult, dict(kwargs))

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        return await asyncio.to_thread(self._mmr, embedding, k, fetch_k, lambda_mult, dict(kwargs))

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        vector = self._embedding.embed_query(query)
        return self._mmr(vector, k, fetch_k, lambda_mult, dict(kwargs))

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        vector = await self._embedding.aembed_query(query)
        return await asyncio.to_thread(self._mmr, vector, k, fetch_k, lambda_mult, dict(kwargs))


def _document(match: Match) -> Document:
    return Document(id=match.id, page_content=match.text, metadata=dict(match.metadata))


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"k must be an integer >= 1, got {k!r}")


def _no_options(method: str, options: Mapping[str, Any]) -> None:
    """Unknown keyword options are refused, not ignored: a misspelt ``filter`` would
    otherwise return unfiltered documents."""
    if options:
        names = ", ".join(sorted(repr(name) for name in options))
        raise InvalidArgumentError(f"{method} got unsupported options {names}")
