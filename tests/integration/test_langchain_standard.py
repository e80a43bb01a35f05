"""LangChain's standard unit and integration suites for the adapter, on the tiny model in-process, through a
loopback Ollama and through a loopback OpenAI-compatible server (the real model: ``tests/real_model``)."""

import pytest

pytest.importorskip("langchain_tests", reason="LangChain's standard suites need langchain-tests (the [dev] extra)")

from _support import tiny_model_path  # noqa: E402
from _support.backends import settings_for  # noqa: E402
from langchain_tests.integration_tests import EmbeddingsIntegrationTests  # noqa: E402
from langchain_tests.unit_tests import EmbeddingsUnitTests  # noqa: E402

from langchain_embeddinggemma import EmbeddingGemmaEmbeddings  # noqa: E402


class TestStandardUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self):
        return EmbeddingGemmaEmbeddings

    @property
    def embedding_model_params(self):
        return {"model": tiny_model_path()}


class TestStandardIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self):
        return EmbeddingGemmaEmbeddings

    @property
    def embedding_model_params(self):
        return {"model": tiny_model_path(), "dimensions": 256}


class TestStandardIntegrationOllama(TestStandardIntegration):
    @property
    def embedding_model_params(self):
        return {**settings_for("ollama"), "dimensions": 256}


class TestStandardIntegrationOpenAICompatible(TestStandardIntegration):
    @property
    def embedding_model_params(self):
        return {**settings_for("openai"), "dimensions": 256}
