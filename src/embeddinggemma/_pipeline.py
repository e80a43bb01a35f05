"""The one pipeline: validate → prompt → budget → runtime → shape and check."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import PrivateAttr

from ._drive import adrive, drive
from ._errors import ContextOverflow, OutputCheckError, TruncationError, TruncationWarning
from ._inputs import validate_texts, validate_titles
from ._prompts import Side, apply_prompt
from ._runtimes import LocalRuntime, Runtime, RuntimeSpec, create_runtime, resolve, weights_identity
from ._settings import EmbeddingSettings
from ._vector_cache import VectorCache

_UNIT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class TruncationReport:
    """Which inputs were longer than the token budget (prompt included).

    ``token_counts`` is ``None`` when the runtime is a server that cannot count tokens; ``truncated``
    then holds the inputs the server refused as too long.
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


def shape_vectors(vectors: np.ndarray, dimensions: int, expected_count: int) -> np.ndarray:
    """Matryoshka-truncate, re-normalise, and check: one finite unit vector per input."""
    if vectors.ndim != 2 or vectors.shape[0] != expected_count:
        raise OutputCheckError(
            f"the runtime returned {vectors.shape[0] if vectors.ndim else 0} vectors for "
            f"{expected_count} inputs; refusing to return misaligned vectors."
        )
    if vectors.shape[1] < dimensions:
        raise OutputCheckError(f"the runtime returned {vectors.shape[1]}-d vectors; {dimensions} were asked for.")
    cut = vectors[:, :dimensions].astype(np.float32, copy=True)
    if not np.isfinite(cut).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(cut))[:, 0]})
        raise OutputCheckError(f"the runtime produced NaN/inf vectors for inputs {bad[:10]}.")
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    if (norms == 0).any():
        bad = [int(i) for i in np.flatnonzero(norms[:, 0] == 0)]
        raise OutputCheckError(f"the runtime produced zero vectors for inputs {bad[:10]}.")
    cut /= norms
    if not np.allclose(np.linalg.norm(cut, axis=1), 1.0, atol=_UNIT_TOLERANCE):
        raise OutputCheckError("vectors failed the unit-length check after normalisation.")
    return cut


def cache_identity(spec: RuntimeSpec, settings: EmbeddingSettings) -> dict[str, object]:
    """Every setting that decides a vector, beside the text and its side: what a cache key must hold."""
    prompts = settings.prompts
    return {
        **weights_identity(spec, settings),
        "prompts": [prompts.query, prompts.document],
        "dimensions": settings.dimensions,
        "max_seq_length": settings.max_seq_length,
    }


class _Lookup:
    """One call's texts against the cache: the hits, and the distinct texts still to embed."""

    def __init__(self, cache: VectorCache, keys: list[str], prompted: list[str], found: list) -> None:
        self.cache, self.found = cache, found
        self.todo: list[str] = []
        self.todo_keys: list[str] = []
        self.slot: list[int] = []  # per text: its row in ``todo``, or -1 for a hit
        rows: dict[str, int] = {}
        for key, text, hit in zip(keys, prompted, found, strict=True):
            if hit is not None:
                self.slot.append(-1)
                continue
            if text not in rows:  # the same text twice in one call is embedded once
                rows[text] = len(self.todo)
                self.todo.append(text)
                self.todo_keys.append(key)
            self.slot.append(rows[text])

    def counts(self, todo_counts: Sequence[int]) -> list[int]:
        """Token counts of every text of the call: stored for hits, counted for the rest."""
        return [todo_counts[row] if row >= 0 else hit[1] for row, hit in zip(self.slot, self.found, strict=True)]

    def finish(
        self,
        vectors: np.ndarray | None,
        todo_counts: Sequence[int] | None,
        embedder: Embedder,
        report: TruncationReport | None = None,
    ) -> tuple[np.ndarray, TruncationReport]:
        """Store what was embedded (never what a server cut), and assemble the call's vectors and report."""
        limit = embedder._settings.max_seq_length
        if report is None:  # everything came from the cache
            stored = [hit[1] for hit in self.found]
            report = TruncationReport(limit, None)
            if all(n >= 0 for n in stored):
                report = embedder._warn(embedder._refuse(TruncationReport.from_counts(limit, stored)))
        elif report.token_counts is None:  # a server: map its refusals back to the call's indices
            cut = set(report.truncated)
            report = TruncationReport(limit, None, tuple(i for i, row in enumerate(self.slot) if row in cut))
        else:
            cut = set()
        if vectors is not None:
            fresh = [
                (self.todo_keys[row], vectors[row], -1 if todo_counts is None else todo_counts[row])
                for row in range(len(self.todo))
                if row not in cut
            ]
            self.cache.put(fresh)
        rows = [vectors[row] if row >= 0 else hit[0] for row, hit in zip(self.slot, self.found, strict=True)]
        return np.stack(rows).astype(np.float32, copy=False), report


def _cannot_cut(overflow: ContextOverflow) -> TruncationError:
    return TruncationError(
        f"{overflow.detail or overflow}. This runtime cannot cut over-long inputs (inputs "
        f"{list(overflow.indices)[:10]}): split long texts into chunks, or raise the server's context size "
        "(llama-server: -c/-b/-ub 2048)."
    )


class Embedder:
    """Embeds queries and documents with EmbeddingGemma's prompts, at any Matryoshka size.

    It keeps a copy of its settings and, after the first call, the runtime they resolved to; loaded
    model weights are shared by every embedder of the process that asks for the same ones.

    Example:
        .. code-block:: python

            from embeddinggemma import Embedder

            embedder = Embedder(dimensions=256)
            query = embedder.embed(["Which planet is red?"], side="query")
            docs, report = embedder.embed_with_report(["Mars is red."], side="document", titles=["Mars"])
    """

    def __init__(self, settings: EmbeddingSettings | None = None, /, **overrides: Any) -> None:
        if settings is None:
            settings = EmbeddingSettings(**overrides)
        elif overrides:
            values = dict(settings.core_settings())
            if "max_seq_length" not in settings.model_fields_set:  # the model's context: an override's model may differ
                del values["max_seq_length"]
            settings = EmbeddingSettings(**{**values, **overrides})
        self._settings = settings.core_settings()
        self._spec: RuntimeSpec | None = None
        self._runtime: Runtime | None = None
        self._namespace: str | None = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> EmbeddingSettings:
        """A copy of the settings this embedder runs with (changing it changes nothing here)."""
        return self._settings.core_settings()

    @property
    def spec(self) -> RuntimeSpec:
        """What these settings resolve to (the model located, the engine chosen), once."""
        if self._spec is None:
            with self._lock:
                if self._spec is None:
                    self._spec = resolve(self._settings)
        return self._spec

    @property
    def runtime(self) -> Runtime:
        """The runtime these settings resolve to, loaded on first use."""
        if self._runtime is None:
            spec = self.spec
            with self._lock:
                if self._runtime is None:
                    self._runtime = create_runtime(spec, self._settings)
        return self._runtime

    @property
    def vector_identity(self) -> dict[str, object]:
        """Every setting that decides a vector (the model files' content hash included), readable."""
        return cache_identity(self.spec, self._settings)

    @property
    def cache_namespace(self) -> str:
        """A hash of :attr:`vector_identity`: part of each cache key, and an index's record of its vectors."""
        if self._namespace is None:
            self._namespace = VectorCache.namespace(self.vector_identity)
        return self._namespace

    def __getstate__(self) -> dict[str, Any]:  # picklable for worker processes: the runtime is reloaded there
        return {"_settings": self._settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_settings"])  # type: ignore[misc]

    # -- public calls ----------------------------------------------------------------------------
    def prompt(self, texts: Sequence[str], side: Side, titles: Sequence[str | None] | None = None) -> list[str]:
        """The exact strings the model will see."""
        prompts = self._settings.prompts
        template = prompts.query if side == "query" else prompts.document
        titles = validate_titles(titles, len(texts))
        return [apply_prompt(text, template, title) for text, title in zip(texts, titles, strict=True)]

    def embed_with_report(
        self, texts: Sequence[str], *, side: Side = "document", titles: Sequence[str | None] | None = None
    ) -> tuple[np.ndarray, TruncationReport]:
        """Vectors as a float32 array of shape ``(len(texts), dimensions)``, plus the truncation report."""
        prompted = self._prepare(texts, side, titles)
        if not prompted:
            return self._empty()
        lookup = self._lookup(prompted, side)
        if lookup is not None and not lookup.todo:
            return lookup.finish(None, None, self)
        todo = prompted if lookup is None else lookup.todo
        runtime = self.runtime
        if isinstance(runtime, LocalRuntime):
            counts = runtime.count_tokens(todo)
            report = self._refuse(self._local_report(counts if lookup is None else lookup.counts(counts)))
            vectors = self._shape(runtime.encode(todo), len(todo))
            self._warn(report)
        else:
            raw, report = drive(self._server_plan(len(todo)), lambda truncate: runtime.encode(todo, truncate=truncate))
            vectors, counts = self._shape(raw, len(todo)), None
        return (vectors, report) if lookup is None else lookup.finish(vectors, counts, self, report)

    async def aembed_with_report(
        self, texts: Sequence[str], *, side: Side = "document", titles: Sequence[str | None] | None = None
    ) -> tuple[np.ndarray, TruncationReport]:
        """Coroutine twin of :meth:`embed_with_report`: native async for servers, a worker thread otherwise."""
        import asyncio  # here, not at the top: a process that never awaits does not load it (~7 MB)

        prompted = self._prepare(texts, side, titles)
        if not prompted:
            return self._empty()
        runtime = await asyncio.to_thread(lambda: self.runtime)  # loading a model never blocks the event loop
        if isinstance(runtime, LocalRuntime):
            return await asyncio.to_thread(self.embed_with_report, texts, side=side, titles=titles)
        lookup = None if self._settings.cache is None else await asyncio.to_thread(self._lookup, prompted, side)
        if lookup is not None and not lookup.todo:
            return lookup.finish(None, None, self)
        todo = prompted if lookup is None else lookup.todo

        async def send(truncate: bool) -> np.ndarray:
            return await runtime.aencode(todo, truncate=truncate)

        raw, report = await adrive(self._server_plan(len(todo)), send)
        vectors = self._shape(raw, len(todo))
        if lookup is None:
            return vectors, report
        return await asyncio.to_thread(lookup.finish, vectors, None, self, report)

    def embed(
        self, texts: Sequence[str], *, side: Side = "document", titles: Sequence[str | None] | None = None
    ) -> list[list[float]]:
        """One unit vector per text, in input order, as plain lists."""
        vectors, _ = self.embed_with_report(texts, side=side, titles=titles)
        return vectors.tolist()

    async def aembed(
        self, texts: Sequence[str], *, side: Side = "document", titles: Sequence[str | None] | None = None
    ) -> list[list[float]]:
        """Coroutine twin of :meth:`embed`."""
        vectors, _ = await self.aembed_with_report(texts, side=side, titles=titles)
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed(self._query(text), side="query")[0]

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed(self._query(text), side="query"))[0]

    # -- steps -------------------------------------------------------------------------------------
    @staticmethod
    def _query(text: object) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"the query must be a string, got {type(text).__name__}.")
        return [text]

    def _prepare(self, texts: Sequence[str], side: Side, titles: Sequence[str | None] | None) -> list[str]:
        if side not in ("query", "document"):
            raise ValueError(f"side={side!r} is unknown; use 'query' or 'document'.")
        texts = validate_texts(texts)
        return self.prompt(texts, side, titles) if texts else []

    def _server_plan(self, count: int) -> Generator[bool, Any, tuple[np.ndarray, TruncationReport]]:
        """Ask a server not to truncate (unless silent); on a refusal apply the policy and ask again."""
        limit = self._settings.max_seq_length
        truncate = self._settings.truncation == "silent"
        outcome = yield truncate
        report = TruncationReport(limit, None)
        if isinstance(outcome, ContextOverflow) and not truncate:
            report = self._refuse(TruncationReport(limit, None, outcome.indices), count)
            outcome = yield True
        if isinstance(outcome, ContextOverflow):
            raise _cannot_cut(outcome)
        return outcome, self._warn(report, count)

    def _local_report(self, counts: Sequence[int]) -> TruncationReport:
        return TruncationReport.from_counts(self._settings.max_seq_length, counts)

    def _lookup(self, prompted: list[str], side: Side) -> _Lookup | None:
        """What the cache already holds for these texts (None when there is no cache)."""
        cache = self._settings.cache
        if cache is None:
            return None
        keys = [cache.key(self.cache_namespace, side, text) for text in prompted]
        return _Lookup(cache, keys, prompted, cache.get(keys, self._settings.dimensions))

    def _empty(self) -> tuple[np.ndarray, TruncationReport]:
        settings = self._settings
        return np.zeros((0, settings.dimensions), np.float32), TruncationReport(settings.max_seq_length, ())

    def _refuse(self, report: TruncationReport, total: int | None = None) -> TruncationReport:
        if report.truncated and self._settings.truncation == "error":
            raise TruncationError(report.message(refused=True, total=total))
        return report

    def _warn(self, report: TruncationReport, total: int | None = None) -> TruncationReport:
        if report.truncated and self._settings.truncation == "warn":
            warnings.warn(report.message(refused=False, total=total), TruncationWarning, stacklevel=4)
        return report

    def _shape(self, raw: np.ndarray, count: int) -> np.ndarray:
        return shape_vectors(np.asarray(raw, dtype=np.float32), self._settings.dimensions, count)


class Pipelined(EmbeddingSettings):
    """Settings that own the pipeline they configure: both adapters are this class plus their framework's
    base. A changed setting drops the pipeline; the next call builds one from the new settings."""

    _embedder: Embedder | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in type(self).model_fields:
            self._embedder = None

    @property
    def _pipeline(self) -> Embedder:
        """The pipeline these settings build (lazily; rebuilt after a setting changes)."""
        if self._embedder is None:
            self._embedder = Embedder(self)
        return self._embedder

    def vector_identity(self) -> dict[str, object]:
        """Every setting that decides a vector, readable: the engine, quantization, device and dtype, the
        model files' content hash (a server's address and model name), the prompts, dimensions and
        ``max_seq_length``. Record it with an index, so any change rebuilds the index."""
        return self._pipeline.vector_identity

    def cache_namespace(self) -> str:
        """A hash of :meth:`vector_identity`: a namespace for a framework's own cache, or an index's record.

        With LangChain's ``CacheBackedEmbeddings``, which keys by raw text, give queries their own store (its
        ``query_embedding_cache=True`` would share the documents' store and hand a query the vector of a
        document with the same text). The ``cache=`` setting does all of this by itself.
        """
        return self._pipeline.cache_namespace
