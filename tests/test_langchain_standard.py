"""langchain-tests' standard ``VectorStoreIntegrationTests``, unmodified, sync and async, on
SQLite, PostgreSQL and a remote store (contract §18).

The suite's own tests run as they are; this file supplies only the fixture it asks for: an
empty store (a fresh collection) built with the suite's embedding.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests.vectorstores import VectorStoreIntegrationTests

from nighdb.integrations.langchain import NighVectorStore

from .adapter_support import ADAPTER_BACKENDS, TENANT, AdapterURLs, adapter_urls, fresh_collection

__all__ = ["adapter_urls"]  # the module-scoped fixture, re-exported for pytest


class TestNighVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture(params=ADAPTER_BACKENDS)
    def vectorstore(
        self, request: pytest.FixtureRequest, adapter_urls: AdapterURLs
    ) -> Iterator[VectorStore]:
        store = NighVectorStore(
            self.get_embeddings(),
            url=adapter_urls.url(str(request.param)),
            tenant=TENANT,
            collection=fresh_collection(),
        )
        try:
            yield store
        finally:
            store.close()
