"""Ollama's ``/api/embed`` through the official ``ollama`` client, with prompts applied by the core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import DEFAULT_MODEL
from ..errors import ModelLoadError, ServerError
from .base import ContextOverflow
from .remote import (
    Retryable,
    RetryPolicy,
    aencode_in_batches,
    aencode_splitting,
    encode_in_batches,
    encode_splitting,
    transport_failure,
    vectors_from_rows,
)

if TYPE_CHECKING:
    from ..config import EmbeddingConfig

DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_OLLAMA_MODEL = "embeddinggemma"
"""The Ollama library tag used when ``model`` is left at the hub id."""


def _import_ollama() -> Any:
    try:
        import ollama
    except ImportError as exc:
        raise ModelLoadError("backend='ollama' needs the ollama client: pip install 'embeddinggemma[ollama]'") from exc
    return ollama


class OllamaBackend:
    """Sends already-prompted texts to an Ollama server, in batches, and returns its raw vectors.

    Ollama applies no EmbeddingGemma prompt of its own, so the core's prompts reach the model exactly
    once. The context is set per request (``options.num_ctx``) from the core's ``max_seq_length``.
    """

    def __init__(self, config: EmbeddingConfig) -> None:
        self._ollama = _import_ollama()
        self.model = DEFAULT_OLLAMA_MODEL if config.model == DEFAULT_MODEL else config.model
        self.url = (config.base_url or DEFAULT_OLLAMA_URL).rstrip("/")
        self._timeout = config.timeout
        self._keep_alive = config.keep_alive
        self._concurrency = config.max_concurrency
        self._retry = RetryPolicy(config.max_retries)
        self._client = self._ollama.Client(host=self.url, timeout=config.timeout)

    def count_tokens(self, texts: Sequence[str]) -> None:
        return None  # Ollama has no tokenize endpoint; over-long inputs are detected by the server.

    def encode(
        self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool, truncate: bool = True
    ) -> np.ndarray:
        def attempt(span: range) -> np.ndarray:
            request = self._request(texts, span, max_seq_length, truncate)
            return self._retry.run(lambda: self._call(lambda: self._client.embed(**request), span))

        def embed_batch(span: range) -> np.ndarray:
            return encode_splitting(span, attempt)

        return encode_in_batches(len(texts), batch_size, embed_batch, show_progress=show_progress)

    async def aencode(
        self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool, truncate: bool = True
    ) -> np.ndarray:
        async with self._ollama.AsyncClient(host=self.url, timeout=self._timeout) as client:

            async def attempt(span: range) -> np.ndarray:
                request = self._request(texts, span, max_seq_length, truncate)

                async def send() -> np.ndarray:
                    try:
                        response = await client.embed(**request)
                    except Exception as exc:
                        raise self._translate(exc, span) from exc
                    return self._vectors(response, span)

                return await self._retry.arun(send)

            async def embed_batch(span: range) -> np.ndarray:
                return await aencode_splitting(span, attempt)

            return await aencode_in_batches(len(texts), batch_size, embed_batch, concurrency=self._concurrency)

    def _request(self, texts: Sequence[str], span: range, max_seq_length: int, truncate: bool) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "input": [texts[i] for i in span],
            "truncate": truncate,
            "options": {"num_ctx": max_seq_length},
        }
        if self._keep_alive is not None:
            request["keep_alive"] = self._keep_alive
        return request

    def _call(self, send: Any, span: range) -> np.ndarray:
        try:
            response = send()
        except Exception as exc:
            raise self._translate(exc, span) from exc
        return self._vectors(response, span)

    def _vectors(self, response: Any, span: range) -> np.ndarray:
        return vectors_from_rows(response.embeddings, expected=len(span), server=f"Ollama at {self.url}")

    def _translate(self, exc: Exception, span: range) -> Exception:
        """Map the client's exceptions onto the package's errors; wrap the retryable ones."""
        where = f"Ollama at {self.url}"
        if isinstance(exc, self._ollama.ResponseError):
            status, detail = exc.status_code, exc.error
            if status == 404 and "not found" in detail:
                return ModelLoadError(
                    f"{where} does not have the model {self.model!r} ({detail}). "
                    f"Pull it with `ollama pull {self.model}`, or set model= to a tag `ollama list` shows."
                )
            if "context length" in detail or "context window" in detail:
                return ContextOverflow(list(span), f"{where}: {detail}")
            error = ServerError(f"{where} answered {status}: {detail}")
            return Retryable(error) if status == 429 or status >= 500 else error
        return transport_failure(
            exc, where=where, start_hint="Start it with `ollama serve` (or the Ollama app)", timeout=self._timeout
        )
