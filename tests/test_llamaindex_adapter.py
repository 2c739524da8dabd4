"""The LlamaIndex adapter through a real ``VectorStoreIndex`` on SQLite, PostgreSQL and a
remote store (contract §18): add nodes, retrieve with filters and MMR, delete by source
document, async, and every ``FilterOperator`` either translated or refused by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

import nighdb
from nighdb.integrations.llamaindex import NighVectorStore
from nighdb.integrations.llamaindex_filters import to_nigh_filter

from .adapter_support import ADAPTER_BACKENDS, TENANT, AdapterURLs, adapter_urls, fresh_collection

__all__ = ["adapter_urls"]

VECTORS = {
    "apple": [1.0, 0.0, 0.0],
    "apple pie": [0.99, 0.05, 0.0],
    "banana": [0.6, 0.8, 0.0],
    "cherry": [0.0, 0.0, 1.0],
    "apple tart": [1.0, 0.2, 0.0],
}


class TableEmbedding(BaseEmbedding):
    """Embeds only the texts in ``VECTORS``: which node is near which is known exactly."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return VECTORS[query]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return VECTORS[query]

    def _get_text_embedding(self, text: str) -> list[float]:
        # LlamaIndex embeds "key: value" metadata lines, then a blank line, then the text.
        return VECTORS[text.rsplit("\n", 1)[-1]]


def _fruit_nodes() -> list[TextNode]:
    rows = [
        ("a", "apple", "tree", {"colour": "red", "price": 3}),
        ("p", "apple pie", "bakery", {"colour": "red", "price": 9}),
        ("b", "banana", "tree", {"colour": "yellow", "price": 2}),
        ("c", "cherry", "tree", {"colour": "red", "price": 7}),
    ]
    return [
        TextNode(
            id_=node_id,
            text=text,
            metadata=metadata,
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=source)},
        )
        for node_id, text, source, metadata in rows
    ]


@pytest.fixture(params=ADAPTER_BACKENDS)
def index(
    request: pytest.FixtureRequest, adapter_urls: AdapterURLs
) -> Iterator[tuple[VectorStoreIndex, NighVectorStore]]:
    store = NighVectorStore(
        url=adapter_urls.url(str(request.param)),
        tenant=TENANT,
        collection=fresh_collection(),
        embedding_model="table-v1",
    )
    built = VectorStoreIndex(
        _fruit_nodes(),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=TableEmbedding(),
    )
    yield built, store
    store.close()


def _ids(found: list[Any]) -> list[str]:
    return [hit.node.node_id for hit in found]


def test_index_retrieves_with_filters(index: tuple[VectorStoreIndex, NighVectorStore]) -> None:
    built, store = index
    assert store.client.describe_collection(TENANT, store.collection) == nighdb.Collection(
        store.collection, 3, "table-v1", "cosine"
    )
    assert _ids(built.as_retriever(similarity_top_k=2).retrieve("apple")) == ["a", "p"]
    red_and_cheap = MetadataFilters(
        filters=[
            MetadataFilter(key="colour", value="red"),
            MetadataFilter(key="price", value=7, operator=FilterOperator.LTE),
        ]
    )
    found = built.as_retriever(similarity_top_k=4, filters=red_and_cheap).retrieve("apple")
    assert _ids(found) == ["a", "c"]
    assert found[0].node.get_content() == "apple"
    assert found[0].node.metadata == {"colour": "red", "price": 3}
    assert found[0].node.ref_doc_id == "tree"
    assert found[0].score == pytest.approx(1.0)
    neither = MetadataFilters(
        filters=[
            MetadataFilter(key="price", value=[2, 3], operator=FilterOperator.IN),
            MetadataFilter(key="colour", value="yellow"),
        ],
        condition=FilterCondition.NOT,
    )
    assert _ids(built.as_retriever(similarity_top_k=4, filters=neither).retrieve("apple")) == [
        "p",
        "c",
    ]


def test_mmr_mode_skips_near_duplicates(index: tuple[VectorStoreIndex, NighVectorStore]) -> None:
    built, _ = index
    plain = built.as_retriever(similarity_top_k=2).retrieve("apple tart")
    assert _ids(plain) == ["p", "a"]
    mmr = built.as_retriever(
        similarity_top_k=2,
        vector_store_query_mode=VectorStoreQueryMode.MMR,
        vector_store_kwargs={"mmr_threshold": 0.5},
    ).retrieve("apple tart")
    assert _ids(mmr) == ["p", "b"]


def test_delete_by_source_document_and_by_nodes(
    index: tuple[VectorStoreIndex, NighVectorStore],
) -> None:
    built, store = index
    built.delete_ref_doc("tree")
    assert [node.node_id for node in store.get_nodes()] == ["p"]
    store.add(_with_embeddings(_fruit_nodes()))
    store.delete_nodes(
        ["a"], filters=MetadataFilters(filters=[MetadataFilter(key="price", value=3)])
    )
    store.delete_nodes(
        filters=MetadataFilters(filters=[MetadataFilter(key="colour", value="yellow")])
    )
    assert [node.node_id for node in store.get_nodes()] == ["c", "p"]
    with pytest.raises(nighdb.InvalidArgumentError, match="clear"):
        store.delete_nodes()
    store.clear()
    assert store.get_nodes() == []
    assert store.client.describe_collection(TENANT, store.collection) is not None


async def test_async_paths(index: tuple[VectorStoreIndex, NighVectorStore]) -> None:
    built, store = index
    found = await built.as_retriever(similarity_top_k=1).aretrieve("cherry")
    assert _ids(found) == ["c"]
    await store.adelete("bakery")
    query = VectorStoreQuery(query_embedding=VECTORS["apple pie"], similarity_top_k=4)
    result = await store.aquery(query)
    assert result.ids == ["a", "b", "c"]
    await store.adelete_nodes(["a", "b"])
    assert [node.node_id for node in await store.aget_nodes()] == ["c"]


def _with_embeddings(nodes: list[TextNode]) -> list[TextNode]:
    for node in nodes:
        node.embedding = VECTORS[node.get_content()]
    return nodes


def test_an_empty_store_finds_nothing(adapter_urls: AdapterURLs) -> None:
    store = NighVectorStore(
        url=adapter_urls.url("sqlite"), tenant=TENANT, collection=fresh_collection()
    )
    query = VectorStoreQuery(query_embedding=[1.0, 0.0], similarity_top_k=3)
    assert store.query(query).ids == []
    assert store.get_nodes() == []
    store.delete("nothing")
    store.close()


TRANSLATED = {
    FilterOperator.EQ: {"f": {"eq": 1}},
    FilterOperator.NE: {"f": {"ne": 1}},
    FilterOperator.GT: {"f": {"gt": 1}},
    FilterOperator.GTE: {"f": {"gte": 1}},
    FilterOperator.LT: {"f": {"lt": 1}},
    FilterOperator.LTE: {"f": {"lte": 1}},
    FilterOperator.IN: {"f": {"in": [1]}},
    FilterOperator.NIN: {"f": {"not_in": [1]}},
}


@pytest.mark.parametrize("operator", list(FilterOperator))
def test_every_filter_operator_is_translated_or_refused_by_name(operator: FilterOperator) -> None:
    value: Any = [1] if operator in (FilterOperator.IN, FilterOperator.NIN) else 1
    filters = MetadataFilters(filters=[MetadataFilter(key="f", value=value, operator=operator)])
    if operator in TRANSLATED:
        assert to_nigh_filter(filters) == {"$and": [TRANSLATED[operator]]}
    else:
        with pytest.raises(nighdb.InvalidArgumentError, match=operator.name):
            to_nigh_filter(filters)


def test_unsupported_queries_are_clear_errors(
    index: tuple[VectorStoreIndex, NighVectorStore],
) -> None:
    _, store = index
    text_only = VectorStoreQuery(query_str="apple", mode=VectorStoreQueryMode.TEXT_SEARCH)
    with pytest.raises(nighdb.InvalidArgumentError, match="text_search"):
        store.query(text_only)
    with pytest.raises(nighdb.InvalidArgumentError, match="no embedding"):
        store.query(VectorStoreQuery(query_str="apple"))
    with pytest.raises(nighdb.InvalidArgumentError, match="has no embedding"):
        store.add([TextNode(id_="x", text="apple")])
    null = MetadataFilters(filters=[MetadataFilter(key="f", value=None)])
    with pytest.raises(nighdb.InvalidArgumentError, match="exists"):
        to_nigh_filter(null)


def test_items_written_by_other_clients_read_as_text_nodes(adapter_urls: AdapterURLs) -> None:
    name = fresh_collection()
    store = NighVectorStore(url=adapter_urls.url("sqlite"), tenant=TENANT, collection=name)
    store.client.ensure_collection(TENANT, nighdb.Collection(name, 3))
    item = {"id": "imported", "vector": [0.0, 1.0, 0.0], "metadata": {"k": 1}, "text": "plain"}
    store.client.upsert(TENANT, name, [item])
    query = VectorStoreQuery(query_embedding=[0.0, 1.0, 0.0], similarity_top_k=1)
    [node] = store.query(query).nodes or []
    assert isinstance(node, TextNode)
    assert (node.node_id, node.get_content(), node.metadata) == ("imported", "plain", {"k": 1})
    assert [n.node_id for n in store.get_nodes()] == ["imported"]
    store.close()
