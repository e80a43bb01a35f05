"""LangChain's standard integration suite on the real model."""

import pytest

pytest.importorskip("langchain_tests", reason="LangChain's standard suites need langchain-tests (the [dev] extra)")

from _support import REAL_MODEL  # noqa: E402
from langchain_tests.integration_tests import EmbeddingsIntegrationTests  # noqa: E402

from langchain_embeddinggemma import EmbeddingGemmaEmbeddings  # noqa: E402


class TestStandardIntegrationRealModel(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self):
        return EmbeddingGemmaEmbeddings

    @property
    def embedding_model_params(self):
        return {"model": REAL_MODEL, "device": "cpu"}
