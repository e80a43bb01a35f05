"""Any OpenAI-compatible ``/v1/embeddings`` server (llama-server, Docker Model Runner, vLLM, TEI) via httpx."""

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
    import httpx

    from ..config import EmbeddingConfig

SERVER_PRESETS: dict[str, tuple[str, str | None]] = {
    # name: (base URL, model to request when `model` is left at the hub id; None keeps the hub id)
    "llama-server": ("http://localhost:8080/v1", None),
    "docker-model-runner": ("http://localhost:12434/engines/llama.cpp/v1", "ai/embeddinggemma"),
}
DEFAULT_PRESET = "llama-server"

# llama-server and TEI refuse more than 32 inputs per request by default.
MAX_INPUTS_PER_REQUEST = 32

_TOO_LONG_MARKERS = ("too large", "too long", "too many", "context length", "maximum context", "must have less than")


def resolve_server(base_url: str | None, model: str) -> tuple[str, str]:
    """``(base URL, model name)`` from a URL or a preset name."""
    url, preset_model = SERVER_PRESETS.get(base_url or DEFAULT_PRESET, (base_url, None))
    assert url is not None
    if model == DEFAULT_MODEL and preset_model is not None:
        model = preset_model
    return url.rstrip("/"), model


def _import_httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise ModelLoadError("backend='openai' needs httpx: pip install 'embeddinggemma[server]'") from exc
    return httpx


class OpenAICompatibleBackend:
    """Posts already-prompted raw texts (never token ids) to ``{base_url}/embeddings``.

    Requests carry at most 32 inputs; a request the server refuses as too large is split in halves
    until single inputs remain, so no text is ever dropped. Servers cannot be asked to cut inputs
    through this API, so an input longer than the server's context is always an error naming it.
    """

    def __init__(self, config: EmbeddingConfig) -> None:
        self._httpx = _import_httpx()
        self.url, self.model = resolve_server(config.base_url, config.model)
        self._endpoint = f"{self.url}/embeddings"
        self._headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._timeout = config.timeout
        self._concurrency = config.max_concurrency
        self._retry = RetryPolicy(config.max_retries)
        self._client = self._httpx.Client(timeout=config.timeout, headers=self._headers)

    def __repr__(self) -> str:  # never show the API key
        return f"OpenAICompatibleBackend(url={self.url!r}, model={self.model!r})"

    def count_tokens(self, texts: Sequence[str]) -> None:
        return None  # the OpenAI API has no tokenizer endpoint; over-long inputs come back as errors

    def encode(
        self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool, truncate: bool = True
    ) -> np.ndarray:
        def embed_batch(span: range) -> np.ndarray:
            return encode_splitting(span, lambda part: self._retry.run(lambda: self._post(self._client, texts, part)))

        size = min(batch_size, MAX_INPUTS_PER_REQUEST)
        return encode_in_batches(len(texts), size, embed_batch, show_progress=show_progress)

    async def aencode(
        self, texts: Sequence[str], *, max_seq_length: int, batch_size: int, show_progress: bool, truncate: bool = True
    ) -> np.ndarray:
        async with self._httpx.AsyncClient(timeout=self._timeout, headers=self._headers) as client:

            async def embed_batch(span: range) -> np.ndarray:
                return await aencode_splitting(
                    span, lambda part: self._retry.arun(lambda: self._apost(client, texts, part))
                )

            size = min(batch_size, MAX_INPUTS_PER_REQUEST)
            return await aencode_in_batches(len(texts), size, embed_batch, concurrency=self._concurrency)

    def _body(self, texts: Sequence[str], span: range) -> dict[str, Any]:
        return {"model": self.model, "input": [texts[i] for i in span], "encoding_format": "float"}

    def _post(self, client: httpx.Client, texts: Sequence[str], span: range) -> np.ndarray:
        try:
            response = client.post(self._endpoint, json=self._body(texts, span))
        except Exception as exc:
            raise self._translate_transport(exc) from exc
        return self._vectors(response, span)

    async def _apost(self, client: httpx.AsyncClient, texts: Sequence[str], span: range) -> np.ndarray:
        try:
            response = await client.post(self._endpoint, json=self._body(texts, span))
        except Exception as exc:
            raise self._translate_transport(exc) from exc
        return self._vectors(response, span)

    def _vectors(self, response: httpx.Response, span: range) -> np.ndarray:
        where = f"the embeddings server at {self._endpoint}"
        if response.status_code >= 400:
            raise self._translate_status(response, span)
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            if [item["index"] for item in data] != list(range(len(data))):
                raise ServerError(f"{where} returned vector indices that do not cover the inputs once each.")
            rows = [item["embedding"] for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise ServerError(f"{where} did not answer in the OpenAI embeddings format: {exc!r}") from exc
        return vectors_from_rows(rows, expected=len(span), server=where)

    def _translate_status(self, response: httpx.Response, span: range) -> Exception:
        status, detail = response.status_code, _error_detail(response)
        where = f"the embeddings server at {self._endpoint}"
        if any(marker in detail.lower() for marker in _TOO_LONG_MARKERS):
            return ContextOverflow(list(span), f"{where} refused the request as too large ({status}: {detail})")
        if status in (401, 403):
            return ServerError(f"{where} refused the credentials ({status}: {detail}); check api_key=.")
        if status == 404:
            return ModelLoadError(
                f"{where} answered 404 ({detail}): check base_url= (it should end in /v1 or the "
                f"preset's path) and that the server serves the model {self.model!r}."
            )
        error = ServerError(f"{where} answered {status}: {detail}")
        return Retryable(error) if status == 429 or status >= 500 else error

    def _translate_transport(self, exc: Exception) -> Exception:
        return transport_failure(
            exc,
            where=f"the embeddings server at {self.url}",
            start_hint="Start the server (e.g. `llama-server -m model.gguf --embeddings`, "
            "or `docker model run ai/embeddinggemma`)",
            timeout=self._timeout,
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
