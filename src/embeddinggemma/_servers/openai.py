"""The ``openai`` backend: any OpenAI-compatible ``/v1/embeddings`` server (llama-server, Docker Model
Runner, vLLM, TEI) via httpx."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ContextOverflow, ModelLoadError, ServerError, require
from .._registry import DEFAULT_MODEL, backend
from .base import (
    Retryable,
    ServerRuntimeBase,
    not_json,
    retry_after_seconds,
    transport_failure,
    vectors_from_rows,
)

if TYPE_CHECKING:
    import httpx

    from .._settings import EmbeddingSettings

SERVER_PRESETS: dict[str, tuple[str, str | None]] = {
    # name: (base URL, model to request when `model` is left at the hub id; None keeps the hub id)
    "llama-server": (backend("openai").default_url, None),
    "docker-model-runner": ("http://localhost:12434/engines/llama.cpp/v1", "ai/embeddinggemma"),
}
DEFAULT_PRESET = "llama-server"

_TOO_LONG_MARKERS = ("too large", "too long", "too many", "context length", "maximum context", "must have less than")


def resolve_server(base_url: str | None, model: str) -> tuple[str, str]:
    """``(base URL, model name)`` from a URL or a preset name."""
    url, preset_model = SERVER_PRESETS.get(base_url or DEFAULT_PRESET, (base_url, None))
    assert url is not None
    if model == DEFAULT_MODEL and preset_model is not None:
        model = preset_model
    return url.rstrip("/"), model


class OpenAICompatibleRuntime(ServerRuntimeBase):
    """Posts already-prompted raw texts (never token ids) to ``{base_url}/embeddings``.

    Requests carry at most 32 inputs (llama-server's and TEI's default limit). The OpenAI API cannot
    ask a server to cut inputs, so an input longer than the server's context is an error naming it.
    """

    max_inputs_per_request = 32

    def __init__(self, settings: EmbeddingSettings) -> None:
        super().__init__(settings)
        self._httpx = require("httpx", what="backend='openai'", extra="server")
        self.url, self.model = resolve_server(settings.base_url, settings.model)
        self._endpoint = f"{self.url}/embeddings"
        self._where = f"the embeddings server at {self._endpoint}"
        self._own_client(self._httpx.Client(**self._client_options))

    def __repr__(self) -> str:  # never show the API key
        return f"OpenAICompatibleRuntime(url={self.url!r}, model={self.model!r})"

    def _async_client(self) -> httpx.AsyncClient:
        return self._httpx.AsyncClient(**self._client_options)

    def _send(self, client: httpx.Client, texts: Sequence[str], span: range, truncate: bool) -> np.ndarray:
        try:
            response = client.post(self._endpoint, json=self._body(texts, span))
        except Exception as exc:
            raise self._transport(exc) from exc
        return self._vectors(response, span)

    async def _asend(self, client: httpx.AsyncClient, texts: Sequence[str], span: range, truncate: bool) -> np.ndarray:
        try:
            response = await client.post(self._endpoint, json=self._body(texts, span))
        except Exception as exc:
            raise self._transport(exc) from exc
        return self._vectors(response, span)

    def _body(self, texts: Sequence[str], span: range) -> dict[str, Any]:
        return {"model": self.model, "input": [texts[i] for i in span], "encoding_format": "float"}

    def _vectors(self, response: httpx.Response, span: range) -> np.ndarray:
        if response.status_code >= 400:
            raise self._refusal(response, span)
        try:
            payload = response.json()
        except ValueError:
            status, content_type = response.status_code, response.headers.get("content-type")
            raise not_json(self._where, response.text, status=status, content_type=content_type) from None
        try:
            data = sorted(payload["data"], key=lambda item: item["index"])
            if [item["index"] for item in data] != list(range(len(data))):
                raise ServerError(f"{self._where} returned vector indices that do not cover the inputs once each.")
            rows = [item["embedding"] for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise ServerError(f"{self._where} did not answer in the OpenAI embeddings format: {exc!r}") from exc
        return vectors_from_rows(rows, expected=len(span), server=self._where)

    def _refusal(self, response: httpx.Response, span: range) -> Exception:
        status, detail = response.status_code, _error_detail(response)
        if any(marker in detail.lower() for marker in _TOO_LONG_MARKERS):
            return ContextOverflow(list(span), f"{self._where} refused the request as too large ({status}: {detail})")
        if status in (401, 403):
            return ServerError(f"{self._where} refused the credentials ({status}: {detail}); check api_key=.")
        if status == 404:
            return ModelLoadError(
                f"{self._where} answered 404 ({detail}): check base_url= (it should end in /v1 or the "
                f"preset's path) and that the server serves the model {self.model!r}."
            )
        error = ServerError(f"{self._where} answered {status}: {detail}")
        if status == 429 or status >= 500:
            return Retryable(error, retry_after_seconds(response.headers.get("retry-after")))
        return error

    def _transport(self, exc: Exception) -> Exception:
        return transport_failure(
            exc,
            where=f"the embeddings server at {self.url}",
            start_hint="Start the server (e.g. `llama-server -m model.gguf --embeddings`, "
            "or `docker model run ai/embeddinggemma`)",
            timeout=self.timeout,
        )


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:500]


def connect(settings: EmbeddingSettings) -> OpenAICompatibleRuntime:
    return OpenAICompatibleRuntime(settings)
