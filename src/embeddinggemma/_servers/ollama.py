"""The ``ollama`` backend: Ollama's ``/api/embed`` through the official ``ollama`` client, with prompts
applied by the pipeline."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ContextOverflow, ModelLoadError, ServerError, require
from .._registry import backend
from .base import (
    Retryable,
    ServerRuntimeBase,
    not_json,
    retry_after_seconds,
    transport_failure,
    vectors_from_rows,
)

if TYPE_CHECKING:
    from .._settings import EmbeddingSettings

DEFAULT_OLLAMA_URL = backend("ollama").default_url


_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar("ollama_retry_after", default=None)


def _keep_retry_after(response: Any) -> None:
    _retry_after.set(retry_after_seconds(response.headers.get("retry-after")))


async def _akeep_retry_after(response: Any) -> None:
    _keep_retry_after(response)


class OllamaRuntime(ServerRuntimeBase):
    """Sends already-prompted texts to an Ollama server, in batches, and returns its raw vectors.

    Ollama applies no EmbeddingGemma prompt of its own, so the pipeline's prompts reach the model exactly
    once. The context is set per request (``options.num_ctx``) to ``max_seq_length``. ``api_key`` is
    sent as a bearer token, for an Ollama behind an authenticating proxy.
    """

    def __init__(self, settings: EmbeddingSettings) -> None:
        super().__init__(settings)
        self._ollama = require("ollama", what="backend='ollama'", extra="ollama")
        family = settings.family
        self.model = family.ollama_tag if settings.model == family.hub_id else settings.model
        self.url = (settings.base_url or DEFAULT_OLLAMA_URL).rstrip("/")
        self._where = f"Ollama at {self.url}"
        self._num_ctx = settings.max_seq_length
        self._keep_alive = settings.keep_alive
        # The ollama client raises without the response's headers: a hook keeps Retry-After for the retry
        # policy (a context variable, so concurrent async requests each see their own).
        hooks = self._client_options.get("event_hooks") or {}
        self._sync_options = {
            **self._client_options,
            "event_hooks": {**hooks, "response": [*hooks.get("response", []), _keep_retry_after]},
        }
        self._async_options = {
            **self._client_options,
            "event_hooks": {**hooks, "response": [*hooks.get("response", []), _akeep_retry_after]},
        }
        self._own_client(self._ollama.Client(host=self.url, **self._sync_options))

    def __repr__(self) -> str:  # never show the API key
        return f"OllamaRuntime(url={self.url!r}, model={self.model!r})"

    def _async_client(self) -> Any:
        return self._ollama.AsyncClient(host=self.url, **self._async_options)

    def _send(self, client: Any, texts: Sequence[str], span: range, truncate: bool) -> np.ndarray:
        try:
            response = client.embed(**self._request(texts, span, truncate))
        except Exception as exc:
            raise self._translate(exc, span) from exc
        return self._vectors(response, span)

    async def _asend(self, client: Any, texts: Sequence[str], span: range, truncate: bool) -> np.ndarray:
        try:
            response = await client.embed(**self._request(texts, span, truncate))
        except Exception as exc:
            raise self._translate(exc, span) from exc
        return self._vectors(response, span)

    def _request(self, texts: Sequence[str], span: range, truncate: bool) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "input": [texts[i] for i in span],
            "truncate": truncate,
            "options": {"num_ctx": self._num_ctx},
        }
        if self._keep_alive is not None:
            request["keep_alive"] = self._keep_alive
        return request

    def _vectors(self, response: Any, span: range) -> np.ndarray:
        return vectors_from_rows(response.embeddings, expected=len(span), server=self._where)

    def _translate(self, exc: Exception, span: range) -> Exception:
        """Map the client's exceptions onto the package's errors; wrap the retryable ones."""
        if isinstance(exc, self._ollama.ResponseError):
            status, detail = exc.status_code, exc.error
            if status == 404 and "not found" in detail:
                return ModelLoadError(
                    f"{self._where} does not have the model {self.model!r} ({detail}). "
                    f"Pull it with `ollama pull {self.model}`, or set model= to a tag `ollama list` shows."
                )
            if "context length" in detail or "context window" in detail:
                return ContextOverflow(list(span), f"{self._where}: {detail}")
            error = ServerError(f"{self._where} answered {status}: {detail}")
            return Retryable(error, _retry_after.get()) if status == 429 or status >= 500 else error
        if isinstance(exc, json.JSONDecodeError):  # the client parses the body itself
            return not_json(self._where, exc.doc)
        return transport_failure(
            exc, where=self._where, start_hint="Start it with `ollama serve` (or the Ollama app)", timeout=self.timeout
        )


def connect(settings: EmbeddingSettings) -> OllamaRuntime:
    return OllamaRuntime(settings)
