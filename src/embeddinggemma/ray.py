"""EmbeddingGemma on Ray Data: the same pipeline (prompts, titles, truncation report, sizes, checks) in
every actor, for any backend.

:class:`EmbedBatches` is a callable class for ``ray.data.Dataset.map_batches``: each actor builds its
:class:`~embeddinggemma.Embedder` once and adds a vector column to every batch of a text column (and an
optional title column). :func:`embed_dataset` wires it with Ray's current API
(``compute=ray.data.ActorPoolStrategy(...)``); :func:`summarize` brings the truncation counts and any
bad rows back to the driver.

A row whose text is not a string (``None``, a number) is an error naming its id, which stops the run;
with ``on_bad_row="skip"`` it is kept with an empty vector and its ``error`` text instead, so it is
reported, never silently dropped.

Install: ``pip install "embeddinggemma[ray]"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._errors import EmbeddingGemmaError
from ._pipeline import Embedder, lone_surrogate
from ._settings import EmbeddingSettings

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

__all__ = ["BadRowError", "EmbedBatches", "EmbeddingRunReport", "embed_dataset", "summarize", "vectors_of"]

OnBadRow = Literal["error", "skip"]


class BadRowError(EmbeddingGemmaError, ValueError):
    """A row whose text (or title) cannot be embedded; the message names its id."""


class EmbedBatches:
    """For ``Dataset.map_batches(EmbedBatches, fn_constructor_kwargs=..., batch_format="pyarrow")``.

    Adds ``vector_column`` (fixed-size lists of float32, unit length), ``tokens`` (the text's token count
    with its prompt, -1 where a server backend cannot count) and ``truncated`` (longer than
    ``max_seq_length``), and ``error`` (empty, or why the row was skipped).

    Example:
        .. code-block:: python

            import ray
            from embeddinggemma.ray import EmbedBatches

            ds = ray.data.from_items([{"id": "a", "text": "Mars is red.", "title": "Mars"}])
            ds = ds.map_batches(
                EmbedBatches,
                fn_constructor_kwargs={"settings": {"dimensions": 256}, "title_column": "title"},
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=2),
            )
    """

    def __init__(
        self,
        settings: Mapping[str, Any] | EmbeddingSettings | None = None,
        *,
        text_column: str = "text",
        title_column: str | None = None,
        id_column: str = "id",
        vector_column: str = "vector",
        on_bad_row: OnBadRow = "error",
        threads: int | None = None,
    ) -> None:
        if on_bad_row not in ("error", "skip"):
            raise ValueError(f"on_bad_row={on_bad_row!r} is unknown; use 'error' or 'skip'.")
        if threads is not None:  # an actor given N CPUs runs N threads, not every core of the node
            os.environ["EMBEDDINGGEMMA_THREADS"] = str(threads)
        if not isinstance(settings, EmbeddingSettings):
            settings = EmbeddingSettings(**dict(settings or {}))
        self.embedder = Embedder(settings)
        self.dimensions = settings.dimensions
        self.text_column, self.title_column, self.id_column = text_column, title_column, id_column
        self.vector_column, self.on_bad_row = vector_column, on_bad_row
        self.embedder.runtime  # noqa: B018 - load the model once per actor, before the first batch

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        columns = batch.column_names
        for needed in (self.text_column, self.id_column, self.title_column):
            if needed is not None and needed not in columns:
                raise KeyError(f"the dataset has no column {needed!r} (columns: {', '.join(columns)}).")
        texts = batch.column(self.text_column).to_pylist()
        ids = batch.column(self.id_column).to_pylist()
        titles = batch.column(self.title_column).to_pylist() if self.title_column else [None] * len(texts)
        errors = [_row_problem(text, title) for text, title in zip(texts, titles, strict=True)]
        bad = [i for i, problem in enumerate(errors) if problem]
        if bad and self.on_bad_row == "error":
            where = ", ".join(f"{self.id_column}={ids[i]!r} ({errors[i]})" for i in bad[:10])
            raise BadRowError(f"{len(bad)} row(s) cannot be embedded: {where}. Fix them, or pass on_bad_row='skip'.")
        good = [i for i, problem in enumerate(errors) if not problem]
        vectors, report = self.embedder.embed_with_report(
            [texts[i] for i in good], titles=[titles[i] for i in good] if self.title_column else None
        )
        rows: list[list[float] | None] = [None] * len(texts)
        tokens, truncated = [-1] * len(texts), [False] * len(texts)
        cut = set(report.truncated)
        for k, i in enumerate(good):
            rows[i] = vectors[k].tolist()
            tokens[i] = report.token_counts[k] if report.token_counts is not None else -1
            truncated[i] = k in cut
        added = {
            self.vector_column: pa.array(rows, type=pa.list_(pa.float32(), self.dimensions)),
            "tokens": pa.array(tokens, type=pa.int32()),
            "truncated": pa.array(truncated, type=pa.bool_()),
            "error": pa.array(errors, type=pa.string()),
        }
        out = batch.drop_columns([name for name in added if name in columns])  # a re-run replaces them
        for name, array in added.items():
            out = out.append_column(name, array)
        return out


def _row_problem(text: object, title: object) -> str:
    if text is None:
        return "text is None"
    if not isinstance(text, str):
        return f"text is a {type(text).__name__}, not a string"
    if title is not None and not isinstance(title, str):
        return f"title is a {type(title).__name__}, not a string"
    for what, value in (("text", text), ("title", title)):
        if value is not None and lone_surrogate(value) is not None:
            return f"{what} holds a lone surrogate"
    return ""


def embed_dataset(
    dataset: ray.data.Dataset,
    settings: Mapping[str, Any] | EmbeddingSettings | None = None,
    *,
    text_column: str = "text",
    title_column: str | None = None,
    id_column: str = "id",
    vector_column: str = "vector",
    on_bad_row: OnBadRow = "error",
    actors: int | tuple[int, int] = 1,
    cpus_per_actor: float = 1,
    gpus_per_actor: float = 0,
    batch_size: int = 64,
) -> ray.data.Dataset:
    """``dataset`` with a vector column, embedded by a pool of ``actors`` (a size, or ``(min, max)``).

    Each actor loads the model once and runs ``cpus_per_actor`` threads; with ``gpus_per_actor`` it gets
    a GPU and the torch engine on it (``device="auto"``). Lazy, like every Ray Data transform.
    """
    import ray.data

    size = {"size": actors} if isinstance(actors, int) else {"min_size": actors[0], "max_size": actors[1]}
    if isinstance(settings, EmbeddingSettings):
        settings = settings.core_settings().model_dump(exclude={"cache"}) | {"api_key": settings.api_key}
    return dataset.map_batches(
        EmbedBatches,
        fn_constructor_kwargs={
            "settings": settings,
            "text_column": text_column,
            "title_column": title_column,
            "id_column": id_column,
            "vector_column": vector_column,
            "on_bad_row": on_bad_row,
            "threads": max(1, int(cpus_per_actor)),
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(**size),
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor,
    )


@dataclass(frozen=True)
class EmbeddingRunReport:
    """What a Ray run embedded, brought back to the driver by :func:`summarize`."""

    rows: int
    embedded: int
    truncated: tuple[Any, ...]
    """Ids of the rows longer than ``max_seq_length`` (embedded cut, per the ``truncation`` setting)."""
    skipped: dict[Any, str]
    """Id → why, for the rows ``on_bad_row="skip"`` left without a vector."""


def summarize(dataset: ray.data.Dataset, *, id_column: str = "id") -> EmbeddingRunReport:
    """Counts, truncated ids and skipped rows of an embedded dataset (reads only the small columns)."""
    small = dataset.select_columns([id_column, "truncated", "error"]).take_all()
    truncated = tuple(row[id_column] for row in small if row["truncated"])
    skipped = {row[id_column]: row["error"] for row in small if row["error"]}
    return EmbeddingRunReport(len(small), len(small) - len(skipped), truncated, skipped)


def vectors_of(rows: list[Mapping[str, Any]], vector_column: str = "vector") -> np.ndarray:
    """The vectors of embedded rows as one float32 array (rows without a vector are an error)."""
    missing = [i for i, row in enumerate(rows) if row[vector_column] is None]
    if missing:
        raise ValueError(f"rows {missing[:10]} have no vector (skipped: see their 'error'); filter them out first.")
    return np.asarray([row[vector_column] for row in rows], dtype=np.float32)
