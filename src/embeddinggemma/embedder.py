"""The one pipeline: validate → prompt → budget → backend → shape and check."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends import AsyncBackend, Backend, ContextOverflow, create_backend, runtime_key
from .config import EmbeddingConfig
from .errors import OutputCheckError, TruncationError, TruncationWarning
from .prompts import Side, apply_prompt

_UNIT_TOLERANCE = 1e-3

_backends: dict[tuple[object, ...], Backend] = {}
_backends_lock = threading.Lock()


def load_backend(config: EmbeddingConfig) -> Backend:
    """One runtime per distinct runtime setting (model, device, dtype, server, …) per process."""
    key = runtime_key(config)
    with _backends_lock:
        if key not in _backends:
            _backends[key] = create_backend(config)
        return _backends[key]


@dataclass(frozen=True)
class TruncationReport:
    """Which inputs were longer than the token budget (prompt included).

    ``token_counts`` is ``None`` when the runtime is a server that cannot count tokens; ``truncated``
    then holds the inputs of the request the server refused as too long.
    """

    max_seq_length: int
    token_counts: tuple[int, ...] | None
    overflowed: tuple[int, ...] = ()

    @classmethod
    def from_counts(cls, max_seq_length: int, counts: Sequence[int]) -> TruncationReport:
        return cls(max_seq_length, tuple(counts), tuple(i for i, n in enumerate(counts) if n > max_seq_length))

    @property
    def truncated(self) -> tuple[int, ...]:
        """Indices of the inputs that were cut (or refused)."""
        return self.overflowed

    def message(self, *, refused: bool, total: int | None = None) -> str:
        cut = self.truncated
        total = len(self.token_counts) if self.token_counts is not None else total
        where = cut[0] if len(cut) == 1 else list(cut[:10])
        if self.token_counts is None:
            what = f"the server found {len(cut)} of {total} inputs longer than its context (at index {where})"
            outcome = "refused them (truncation='error')" if refused else "cut them to fit"
            return f"{what}, and this package {outcome}. Split long texts into chunks" + (
                ", or pass truncation='warn' or 'silent' to let the server cut them." if refused else "."
            )
        longest = max(self.token_counts[i] for i in cut)
        what = f"{len(cut)} of {total} inputs exceeded max_seq_length={self.max_seq_length} tokens "
        what += f"(prompt included; longest: {longest} tokens, at index {where})"
        outcome, alternative = (
            ("were refused (truncation='error')", "truncation='warn' or 'silent' to accept the cut")
            if refused
            else ("were truncated to fit", "truncation='silent' to accept the cut or 'error' to refuse it")
        )
        return f"{what} and {outcome}. Split long texts into chunks, or pass {alternative}."


def validate_texts(texts: object, *, name: str = "texts") -> list[str]:
    """A list of strings, or a TypeError that names the first bad item and the fix."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(
            f"{name} must be a list of strings, got {type(texts).__name__}; "
            f"wrap a single text in a list: [{name[:-1] if name.endswith('s') else name}]."
        )
    for i, text in enumerate(texts):
        if text is None:
            raise TypeError(f"{name}[{i}] is None; every input must be a string (drop or replace it).")
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] is a {type(text).__name__}, not a string; convert it with str() or drop it.")
    return list(texts)


def _validate_titles(titles: Sequence[str | None] | None, count: int) -> list[str | None]:
    if titles is None:
        return [None] * count
    if isinstance(titles, str) or not isinstance(titles, Sequence):
        raise TypeError(f"titles must be a list with one title (or None) per text, got {type(titles).__name__}.")
    if len(titles) != count:
        raise ValueError(
            f"titles has {len(titles)} items but there are {count} texts; pass one title (or None) per text."
        )
    for i, title in enumerate(titles):
        if title is not None and not isinstance(title, str):
            raise TypeError(f"titles[{i}] is a {type(title).__name__}; a title must be a string or None.")
    return list(titles)


def shape_vectors(vectors: np.ndarray, dimensions: int, expected_count: int) -> np.ndarray:
    """Matryoshka-truncate, re-normalise, and check: one finite unit vector per input."""
    if vectors.ndim != 2 or vectors.shape[0] != expected_count:
        raise OutputCheckError(
            f"the backend returned {vectors.shape[0] if vectors.ndim else 0} vectors for "
            f"{expected_count} inputs; refusing to return misaligned vectors."
        )
    if vectors.shape[1] < dimensions:
        raise OutputCheckError(f"the backend returned {vectors.shape[1]}-d vectors; {dimensions} were asked for.")
    cut = vectors[:, :dimensions].astype(np.float32, copy=True)
    if not np.isfinite(cut).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(cut))[:, 0]})
        raise OutputCheckError(f"the backend produced NaN/inf vectors for inputs {bad[:10]}.")
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    if (norms == 0).any():
        bad = [int(i) for i in np.flatnonzero(norms[:, 0] == 0)]
        raise OutputCheckError(f"the backend produced zero vectors for inputs {bad[:10]}.")
    cut /= norms
    if not np.allclose(np.linalg.norm(cut, axis=1), 1.0, atol=_UNIT_TOLERANCE):
        raise OutputCheckError("vectors failed the unit-length check after normalisation.")
    return cut


def _cannot_cut(overflow: ContextOverflow) -> TruncationError:
    return TruncationError(
        f"{overflow.detail or overflow}. This runtime cannot cut over-long inputs (inputs "
        f"{list(overflow.indices)[:10]}): split long texts into chunks, or raise the server's context size "
        "(llama-server: -c/-b/-ub 2048)."
    )


class Embedder:
    """Embeds queries and documents with EmbeddingGemma's prompts, at any Matryoshka size.

    Example:
        .. code-block:: python

            from embeddinggemma import Embedder, EmbeddingConfig

            embedder = Embedder(EmbeddingConfig(dimensions=256))
            query = embedder.embed(["Which planet is red?"], side="query")
            docs = embedder.embed(["Mars is red."], side="document", titles=["Mars"])
    """

    def __init__(self, config: EmbeddingConfig | None = None, **settings: object) -> None:
        if config is None:
            config = EmbeddingConfig(**settings)  # type: ignore[arg-type]
        elif settings:
            config = dataclasses.replace(config, **settings)  # type: ignore[arg-type]
        self.config = config

    @property
    def backend(self) -> Backend:
        return load_backend(self.config)

    def prompt(self, texts: Sequence[str], side: Side, titles: Sequence[str | None] | None = None) -> list[str]:
        """The exact strings the model will see."""
        prompts = self.config.prompts
        template = prompts.query if side == "query" else prompts.document
        titles = _validate_titles(titles, len(texts))
        return [apply_prompt(text, template, title) for text, title in zip(texts, titles, strict=True)]

    def embed_with_report(
        self, texts: Sequence[str], *, side: Side = "document", titles: Sequence[str | None] | None = None
    ) -> tuple[np.ndarray, TruncationReport]:
        """Vectors as a float32 array of shape ``(len(texts), dimensions)``, plus the truncation report."""
        prompted = self._prepare(texts, side, titles)
        if not prompted:
            return self._empty()
        backend = self.backend
        counts = backend.count_tokens(prompted)
        if counts is not None:
            report = self._refuse(TruncationReport.from_counts(self.config.max_seq_length, counts))
            raw = self._encode(backend, prompted, truncate=True)
            return self._shape(raw, len(prompted)), self._warn(report)
        if self.config.truncation == "silent":
            raw = self._encode(backend, prompted, truncate=True)
            return self._shape(raw, len(prompted)), TruncationReport(self.config.max_seq_length, None)
        try:
            raw = self._encode(backend, prompted, truncate=False)
            report = TruncationReport(self.config.max_seq_length, None)
        except ContextOverflow as overflow:
            report = self._refuse(TruncationReport(self.config.max_seq_length, None, overflow.indices), len(prompted))
            raw = self._encode(backend, prompted, truncate=True)
            self._warn(report, len(prompted))
        return self._shape(raw, len(prompted)), report

    async def aembed_with_report(
        self, texts: Sequence[str], *, side: Side = "document", titles: Sequence[str | None] | None = None
    ) -> tuple[np.ndarray, TruncationReport]:
        """Coroutine twin of :meth:`embed_with_report`: native async for servers, a worker thread otherwise."""
        if self.config.is_local:  # loading and encoding are CPU/GPU work: keep them off the event loop
            return await asyncio.to_thread(self.embed_with_report, texts, side=side, titles=titles)
        prompted = self._prepare(texts, side, titles)
        if not prompted:
            return self._empty()
        backend = self.backend
        if not isinstance(backend, AsyncBackend):
            return await asyncio.to_thread(self.embed_with_report, texts, side=side, titles=titles)
        truncate = self.config.truncation == "silent"
        try:
            raw = await self._aencode(backend, prompted, truncate=truncate)
            report = TruncationReport(self.config.max_seq_length, None)
        except ContextOverflow as overflow:
            report = self._refuse(TruncationReport(self.config.max_seq_length, None, overflow.indices), len(prompted))
            raw = await self._aencode(backend, prompted, truncate=True)
            self._warn(report, len(prompted))
        return self._shape(raw, len(prompted)), report

    def _prepare(self, texts: Sequence[str], side: Side, titles: Sequence[str | None] | None) -> list[str]:
        if side not in ("query", "document"):
            raise ValueError(f"side={side!r} is unknown; use 'query' or 'document'.")
        texts = validate_texts(texts)
        return self.prompt(texts, side, titles) if texts else []

    def _empty(self) -> tuple[np.ndarray, TruncationReport]:
        cfg = self.config
        return np.zeros((0, cfg.dimensions), np.float32), TruncationReport(cfg.max_seq_length, ())

    def _refuse(self, report: TruncationReport, total: int | None = None) -> TruncationReport:
        if report.truncated and self.config.truncation == "error":
            raise TruncationError(report.message(refused=True, total=total))
        return report

    def _warn(self, report: TruncationReport, total: int | None = None) -> TruncationReport:
        if report.truncated and self.config.truncation == "warn":
            warnings.warn(report.message(refused=False, total=total), TruncationWarning, stacklevel=4)
        return report

    def _encode_options(self, truncate: bool) -> dict[str, Any]:
        cfg = self.config
        return {
            "max_seq_length": cfg.max_seq_length,
            "batch_size": cfg.batch_size,
            "show_progress": cfg.show_progress,
            "truncate": truncate,
        }

    def _encode(self, backend: Backend, prompted: list[str], *, truncate: bool) -> np.ndarray:
        try:
            return backend.encode(prompted, **self._encode_options(truncate))
        except ContextOverflow as overflow:
            if not truncate:
                raise
            raise _cannot_cut(overflow) from overflow

    async def _aencode(self, backend: AsyncBackend, prompted: list[str], *, truncate: bool) -> np.ndarray:
        try:
            return await backend.aencode(prompted, **self._encode_options(truncate))
        except ContextOverflow as overflow:
            if not truncate:
                raise
            raise _cannot_cut(overflow) from overflow

    def _shape(self, raw: np.ndarray, count: int) -> np.ndarray:
        return shape_vectors(np.asarray(raw, dtype=np.float32), self.config.dimensions, count)

    def embed(
        self, texts: Sequence[str], *, side: Side = "document", titles: Sequence[str | None] | None = None
    ) -> list[list[float]]:
        """One unit vector per text, in input order, as plain lists."""
        vectors, _ = self.embed_with_report(texts, side=side, titles=titles)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        if not isinstance(text, str):
            raise TypeError(f"the query must be a string, got {type(text).__name__}.")
        return self.embed([text], side="query")[0]

    async def aembed(
        self, texts: Sequence[str], *, side: Side = "document", titles: Sequence[str | None] | None = None
    ) -> list[list[float]]:
        """Coroutine twin of :meth:`embed`."""
        vectors, _ = await self.aembed_with_report(texts, side=side, titles=titles)
        return vectors.tolist()

    async def aembed_query(self, text: str) -> list[float]:
        if not isinstance(text, str):
            raise TypeError(f"the query must be a string, got {type(text).__name__}.")
        return (await self.aembed([text], side="query"))[0]
