"""The LangChain adapter beyond the standard suite: filters, delete by filter, MMR from the
stored vectors, the pinned model, relevance scores and the errors (contract §18)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

import nighdb
from nighdb.integrations.langchain import NighVectorStore, embedding_model_name
from nighdb.integrations.langchain_filters import to_nigh_filter

from .adapter_support import ADAPTER_BACKENDS, TENANT, AdapterURLs, adapter_urls, fresh_collection

__all__ = ["adapter_urls"]

# Hand-picked directions, so which documents are near which is known exactly.
VECTORS = {
    "apple": [1.0, 0.0, 0.0],
    "apple pie": [0.99, 0.05, 0.0],  # a near duplicate of "apple"
    "banana": [0.6, 0.8, 0.0],
    "cherry": [0.0, 0.0, 1.0],
    "apple tart": [1.0, 0.2, 0.0],  # a query: closest to "apple pie", then "apple"
}


class TableEmbeddings(Embeddings):
    """Embeds only the texts in ``VECTORS``; names a model so the pin can be tested."""

    def __init__(self, model: str = "table-v1") -> None:
        self.model = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [VECTORS[text] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return VECTORS[text]


FRUIT = [
    Document(id="a", page_content="apple", metadata={"colour": "red", "price": 3}),
    Document(id="p", page_content="apple pie", metadata={"colour": "red", "price": 9}),
    Document(id="b", page_content="banana", metadata={"colour": "yellow", "price": 2}),
    Document(id="c", page_content="cherry", metadata={"colour": "red", "price": 7}),
]


@pytest.fixture(params=ADAPTER_BACKENDS)
def fruit(request: pytest.FixtureRequest, adapter_urls: AdapterURLs) -> Iterator[NighVectorStore]:
    store = NighVectorStore(
        TableEmbeddings(),
        url=adapter_urls.url(str(request.param)),
        tenant=TENANT,
        collection=fresh_collection(),
    )
    store.add_documents(FRUIT)
    yield store
    store.close()


def _ids(documents: list[Document]) -> list[str]:
    return [doc.id or "" for doc in documents]


def test_langchain_filters_select_on_every_backend(fruit: NighVectorStore) -> None:
    assert _ids(fruit.similarity_search("apple", k=4, filter={"colour": "yellow"})) == ["b"]
    in_and_range = {"$and": [{"colour": {"$in": ["red"]}}, {"price": {"$between": [3, 7]}}]}
    assert _ids(fruit.similarity_search("apple", k=4, filter=in_and_range)) == ["a", "c"]
    either = {"$or": [{"price": {"$lt": 3}}, {"price": {"$gte": 9}}]}
    assert _ids(fruit.similarity_search("apple", k=4, filter=either)) == ["p", "b"]
    # nighdb's own syntax passes through
    assert _ids(fruit.similarity_search("apple", k=4, filter={"price": {"gt": 5}})) == ["p", "c"]


def test_delete_by_filter_then_everything(fruit: NighVectorStore) -> None:
    assert fruit.delete(filter={"colour": {"$ne": "red"}})
    assert sorted(_ids(fruit.similarity_search("apple", k=10))) == ["a", "c", "p"]
    assert fruit.delete()  # LangChain: no ids means every document
    assert fruit.similarity_search("apple", k=10) == []
    assert fruit.store.count(TENANT, fruit.collection) == 0


def test_mmr_uses_the_stored_vectors_to_skip_near_duplicates(fruit: NighVectorStore) -> None:
    assert _ids(fruit.similarity_search("apple tart", k=2)) == ["p", "a"]
    diverse = fruit.max_marginal_relevance_search("apple tart", k=2, fetch_k=4, lambda_mult=0.5)
    assert _ids(diverse) == ["p", "b"]
    # lambda 1 is plain relevance order
    plain = fruit.max_marginal_relevance_search("apple tart", k=2, lambda_mult=1.0)
    assert _ids(plain) == ["p", "a"]


async def test_async_paths_match_sync(fruit: NighVectorStore) -> None:
    mmr = await fruit.amax_marginal_relevance_search("apple tart", k=2, fetch_k=4)
    assert _ids(mmr) == ["p", "b"]
    scored = await fruit.asimilarity_search_with_score("cherry", k=1, filter={"price": 7})
    assert [(doc.id, round(distance, 6)) for doc, distance in scored] == [("c", 0.0)]
    assert await fruit.adelete(filter={"price": {"$gt": 2}})
    assert _ids(await fruit.aget_by_ids(["a", "b", "c"])) == ["b"]


def test_relevance_scores_follow_the_collection_metric(fruit: NighVectorStore) -> None:
    scored = fruit.similarity_search_with_relevance_scores("apple", k=4)
    assert scored[0][0].id == "a"
    assert scored[0][1] == pytest.approx(1.0)
    assert scored[-1][0].id == "c"
    assert scored[-1][1] == pytest.approx(0.0)


def test_the_embedding_model_is_pinned(tmp_path: object, adapter_urls: AdapterURLs) -> None:
    url, name = adapter_urls.url("sqlite"), fresh_collection()
    with NighVectorStore(TableEmbeddings("table-v1"), url=url, tenant=TENANT, collection=name) as s:
        s.add_texts(["apple"], ids=["a"])
        pin = s.store.describe_collection(TENANT, name)
        assert pin == nighdb.Collection(name, 3, "table-v1", "cosine")
    with NighVectorStore(TableEmbeddings("table-v2"), url=url, tenant=TENANT, collection=name) as s:
        with pytest.raises(nighdb.CollectionConflictError) as caught:
            s.add_texts(["banana"])
        assert caught.value.field == "embedding_model"
        assert s.similarity_search("apple", k=1)[0].id == "a"  # reading is unaffected


def test_model_name_from_common_attributes() -> None:
    class Named:
        model_name = "sentence-transformers/all-MiniLM-L6-v2"

    assert embedding_model_name(Named()) == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedding_model_name(object()) == ""


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"title": {"$like": "%apple%"}}, "'$like'"),
        ({"title": {"$contains": "apple"}}, "'$contains'"),
        ({"$nor": [{"a": 1}]}, "'$nor'"),
        ({"price": {"$between": [1]}}, "$between"),
        ({"$and": {"a": 1}}, "$and takes a list"),
    ],
)
def test_unsupported_filters_are_clear_errors(bad: dict[str, object], needle: str) -> None:
    with pytest.raises(nighdb.InvalidArgumentError, match=needle.replace("$", r"\$")):
        to_nigh_filter(bad)


def test_bad_calls_are_invalid_argument_and_write_nothing(fruit: NighVectorStore) -> None:
    with pytest.raises(nighdb.InvalidArgumentError, match="'filtre'"):
        fruit.similarity_search("apple", k=2, filtre={"colour": "red"})
    with pytest.raises(nighdb.InvalidArgumentError, match="k must be"):
        fruit.similarity_search("apple", k=0)
    with pytest.raises(nighdb.InvalidArgumentError, match="1 ids for 2 texts"):
        fruit.add_texts(["apple", "banana"], ids=["x"])
    with pytest.raises(nighdb.InvalidArgumentError):  # NaN is not JSON: the batch is refused
        fruit.add_texts(["apple", "banana"], [{"ok": 1}, {"bad": float("nan")}], ids=["x", "y"])
    assert fruit.get_by_ids(["x", "y"]) == []
    with pytest.raises(nighdb.InvalidArgumentError, match="not both"):
        fruit.delete(["a"], filter={"colour": "red"})
    assert len(fruit.get_by_ids(["a", "p", "b", "c"])) == 4


def test_from_texts_builds_a_store(adapter_urls: AdapterURLs) -> None:
    store = NighVectorStore.from_texts(
        ["apple", "cherry"],
        TableEmbeddings(),
        [{"n": 1}, {"n": 2}],
        ids=["a", "c"],
        url=adapter_urls.url("sqlite"),
        tenant=TENANT,
        collection=fresh_collection(),
    )
    with store:
        assert store.get_by_ids(["c"]) == [
            Document(id="c", page_content="cherry", metadata={"n": 2})
        ]
        retriever = store.as_retriever(search_kwargs={"k": 1, "filter": {"n": 1}})
        assert _ids(retriever.invoke("cherry")) == ["a"]
    with pytest.raises(nighdb.InvalidArgumentError, match="tenant="):
        NighVectorStore.from_texts(["apple"], TableEmbeddings(), collection="x")


def test_the_tenant_comes_from_the_remote_key(adapter_urls: AdapterURLs) -> None:
    url = adapter_urls.url("remote")  # holds a key of TENANT
    with NighVectorStore(TableEmbeddings(), url=url, tenant="other", collection="docs") as s:
        with pytest.raises(nighdb.PermissionDeniedError):
            s.add_texts(["apple"], ids=["a"])
        with pytest.raises(nighdb.PermissionDeniedError):
            s.similarity_search("apple", k=1)
