"""Framework adapters (contract §18): nighdb as a LangChain and a LlamaIndex vector store.

Each adapter lives in its own module with its framework in an extra, so ``import nighdb``
never imports a framework: ``nighdb.integrations.langchain`` needs ``nighdb[langchain]``,
``nighdb.integrations.llamaindex`` needs ``nighdb[llamaindex]``. The adapters use only the
public API (``open_store`` and the ``Store`` methods), so they work over every store URL.
"""
