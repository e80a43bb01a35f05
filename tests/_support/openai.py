"""A loopback server speaking the OpenAI embeddings protocol (``POST /v1/embeddings``), for fault tests.

Vectors come from an injected callable (the tiny model in tests), as a llama-server or vLLM would compute
them. Its own limits (``max_inputs``, ``max_chars``, ``api_key``) answer as those servers do; recording,
delays and faults (``fail_next``, including the vector faults ``count``, ``width``, ``nan``, ``zero`` and
``shuffle``) are the loopback base's (``loopback.py``).

    with OpenAIEmbeddingsServer(embed=...) as server:
        server.url  # http://127.0.0.1:<port>/v1
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from _support.loopback import Exchange, LoopbackServer, Route

EmbedFn = Callable[[list[str]], Sequence[Sequence[float]]]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 429: "rate_limit"}


class OpenAIEmbeddingsServer(LoopbackServer):
    """``with OpenAIEmbeddingsServer(embed=...) as server: server.url`` → ``http://127.0.0.1:<port>/v1``."""

    name = "openai"

    def __init__(
        self,
        *,
        embed: EmbedFn,
        max_inputs: int = 32,
        max_chars: int | None = None,
        api_key: str | None = None,
        model: str = "embeddinggemma",
    ) -> None:
        super().__init__()
        self.embed = embed
        self.max_inputs = max_inputs
        self.max_chars = max_chars
        self.api_key = api_key
        self.model = model

    @property
    def url(self) -> str:
        return f"{self.address}/v1"

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {("POST", "/v1/embeddings"): self._embeddings}

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return {"error": {"code": status, "message": message, "type": kind}}

    def not_found(self, http: Exchange) -> None:
        http.reply_error(404, f"File Not Found: {http.path}")

    def _embeddings(self, http: Exchange) -> None:
        if self.api_key and http.headers.get("Authorization") != f"Bearer {self.api_key}":
            return http.reply_error(401, "Invalid API Key")
        body = http.body if isinstance(http.body, dict) else {}
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
            return http.reply_error(400, "'input' must be a string or a list of strings")
        if len(inputs) > self.max_inputs:
            return http.reply_error(400, f"too many inputs: {len(inputs)} > {self.max_inputs}")
        if self.max_chars is not None and any(len(text) > self.max_chars for text in inputs):
            # llama-server's words for an input longer than its physical batch
            return http.reply_error(500, "input is too large to process. increase the physical batch size")
        vectors, order = http.damage([list(map(float, row)) for row in self.embed(inputs)])
        data = [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in order]
        tokens = sum(len(text.split()) for text in inputs)
        http.send_json(
            200,
            {
                "object": "list",
                "model": body.get("model", self.model),
                "data": data,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )
