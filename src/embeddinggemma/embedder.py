"""The one pipeline: validate → prompt → budget → backend → shape and check."""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .backends.base import Backend
from .config import EmbeddingConfig
from .errors import OutputCheckError, TruncationError, TruncationWarning
from .prompts import Side, apply_prompt

_UNIT_TOLERANCE = 1e-3

_backends: dict[tuple[str, str, str], Backend] = {}
_backends_lock = threading.Lock()


def load_backend(model: str, device: str, dtype: str) -> Backend:
    """One backend per (model, device, dtype) per process, created on first use."""
    from .device import resolve_device, resolve_dtype

    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    key = (model, device, dtype)
    with _backends_lock:
        if key not in _backends:
            from .backends.sentence_transformers import SentenceTransformersBackend

            _backends[key] = SentenceTransformersBackend(model, device=device, dtype=dtype)
        return _backends[key]


@dataclass(frozen=True)
class TruncationReport:
    """Which inputs were longer than the token budget (prompt included)."""

    max_seq_length: int
    token_counts: tuple[int, ...]

    @property
    def truncated(self) -> tuple[int, ...]:
        """Indices of the inputs that were cut."""
        return tuple(i for i, n in enumerate(self.token_counts) if n > self.max_seq_length)

    def message(self, *, refused: bool) -> str:
        cut = self.truncated
        longest = max(self.token_counts[i] for i in cut)
        outcome, alternative = (
            ("were refused (truncation='error')", "truncation='warn' or 'silent' to accept the cut")
            if refused
            else ("were truncated to fit", "truncation='silent' to accept the cut or 'error' to refuse it")
        )
        return (
            f"{len(cut)} of {len(self.token_counts)} inputs exceeded max_seq_length="
            f"{self.max_seq_length} tokens (prompt included; longest: {longest} tokens, "
            f"at index {cut[0] if len(cut) == 1 else list(cut[:10])}) and {outcome}. "
            f"Split long texts into chunks, or pass {alternative}."
        )


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
        return load_backend(self.config.model, self.config.device, self.config.dtype)

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
        if side not in ("query", "document"):
            raise ValueError(f"side={side!r} is unknown; use 'query' or 'document'.")
        texts = validate_texts(texts)
        cfg = self.config
        if not texts:
            return np.zeros((0, cfg.dimensions), np.float32), TruncationReport(cfg.max_seq_length, ())
        prompted = self.prompt(texts, side, titles)
        backend = self.backend
        report = TruncationReport(cfg.max_seq_length, tuple(backend.count_tokens(prompted)))
        if report.truncated:
            if cfg.truncation == "error":
                raise TruncationError(report.message(refused=True))
            if cfg.truncation == "warn":
                warnings.warn(report.message(refused=False), TruncationWarning, stacklevel=3)
        raw = backend.encode(
            prompted, max_seq_length=cfg.max_seq_length, batch_size=cfg.batch_size, show_progress=cfg.show_progress
        )
        return shape_vectors(raw, cfg.dimensions, len(texts)), report

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
