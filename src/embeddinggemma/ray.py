"""EmbeddingGemma on Ray Data: the same pipeline (prompts, titles, truncation report, sizes, checks) in
every actor, for any backend.

:class:`EmbedBatches` is a callable class for ``ray.data.Dataset.map_batches``: each actor builds its
:class:`~embeddinggemma.Embedder` once and adds a vector column to every batch of a text column (and an
optional title column). :func:`embed_dataset` wires it with Ray's current API
(``compute=ray.data.ActorPoolStrategy(...)``); :func:`summarize` brings the truncation counts and any
bad rows back to the driver.

A row whose text is not a string (``None``, a number) is an error naming its id, which stops the run;
with ``on_bad_row="skip"`` it is kept with an empty vector and its ``error`` text instead, so it is
reported, never silently dropped. :func:`embed_dataset` checks every row before Ray batches them, so a
column that mixes strings and other types is named row by row too (Ray cannot put such a column into
one batch).

Install: ``pip install "embeddinggemma[ray]"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._errors import EmbeddingGemmaError
from ._inputs import lone_surrogate
from ._pipeline import Embedder
from ._settings import EmbeddingSettings

if TYPE_CHECKING:
    import ray.data

__all__ = [
    "BadRowError",
    "EmbedBatches",
    "EmbeddingRunReport",
    "RowOptions",
    "embed_dataset",
    "summarize",
    "vectors_of",
]

OnBadRow = Literal["error", "skip"]


class BadRowError(EmbeddingGemmaError, ValueError):
    """A row whose text (or title) cannot be embedded; the message names its id."""


@dataclass(frozen=True)
class RowOptions:
    """Which columns hold what, and what becomes of a row that cannot be embedded. Declared once:
    :class:`EmbedBatches` and :func:`embed_dataset` take these as keywords."""

    text_column: str = "text"
    """The column of texts to embed."""
    title_column: str | None = None
    """A column of titles for the document prompt (``None``: no titles)."""
    id_column: str = "id"
    """The column that names a row in errors and reports."""
    vector_column: str = "vector"
    """The column the vectors go to."""
    on_bad_row: OnBadRow = "error"
    """``error`` stops the run naming the row; ``skip`` keeps it without a vector, its ``error`` said."""

    def __post_init__(self) -> None:
        if self.on_bad_row not in ("error", "skip"):
            raise ValueError(f"on_bad_row={self.on_bad_row!r} is unknown; use 'error' or 'skip'.")

    def problem(self, row: Mapping[str, Any]) -> str:
        """Why ``row`` cannot be embedded (``""`` when it can)."""
        return _row_problem(row.get(self.text_column), row.get(self.title_column) if self.title_column else None)

    def refuse(self, ids: list[Any], problems: list[str]) -> None:
        """Under ``on_bad_row="error"``, stop naming the rows (by id) that have a problem."""
        bad = [(row_id, problem) for row_id, problem in zip(ids, problems, strict=True) if problem]
        if bad and self.on_bad_row == "error":
            where = ", ".join(f"{self.id_column}={row_id!r} ({problem})" for row_id, problem in bad[:10])
            raise BadRowError(f"{len(bad)} row(s) cannot be embedded: {where}. Fix them, or pass on_bad_row='skip'.")


class EmbedBatches:
    """For ``Dataset.map_batches(EmbedBatches, fn_constructor_kwargs=..., batch_format=...)``, any batch
    format (``pyarrow``, ``pandas``, ``numpy``); the keywords besides ``settings`` and ``threads`` are those
    of :class:`RowOptions`.

    Adds ``vector_column`` (unit-length float32 vectors), ``tokens`` (the text's token count with its
    prompt, -1 where a server backend cannot count) and ``truncated`` (longer than ``max_seq_length``), and
    ``error`` (empty, or why the row was skipped).

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
        threads: int | None = None,
        **options: Any,
    ) -> None:
        self.options = RowOptions(**options)
        if threads is not None:  # an actor given N CPUs runs N threads, not every core of the node
            os.environ["EMBEDDINGGEMMA_THREADS"] = str(threads)
        if not isinstance(settings, EmbeddingSettings):
            settings = EmbeddingSettings(**dict(settings or {}))
        self.embedder = Embedder(settings)
        self.dimensions = settings.dimensions
        self.embedder.runtime  # noqa: B018 - load the model once per actor, before the first batch

    def __call__(self, batch: Any) -> Any:
        options = self.options
        names = [options.text_column, options.id_column, *([options.title_column] if options.title_column else [])]
        columns = _read_columns(batch, names)
        texts, ids = columns[options.text_column], columns[options.id_column]
        titles = columns[options.title_column] if options.title_column else [None] * len(texts)
        checked = _read_columns(batch, ["error"]).get("error") if _has_column(batch, "error") else None
        problems = [
            (checked[i] if checked and checked[i] else "") or _row_problem(text, title)
            for i, (text, title) in enumerate(zip(texts, titles, strict=True))
        ]
        options.refuse(ids, problems)
        good = [i for i, problem in enumerate(problems) if not problem]
        vectors, report = self.embedder.embed_with_report(
            [texts[i] for i in good], titles=[titles[i] for i in good] if options.title_column else None
        )
        rows: list[np.ndarray | None] = [None] * len(texts)
        tokens, truncated = [-1] * len(texts), [False] * len(texts)
        cut = set(report.truncated)
        for k, i in enumerate(good):
            rows[i] = vectors[k]
            tokens[i] = report.token_counts[k] if report.token_counts is not None else -1
            truncated[i] = k in cut
        added = {options.vector_column: rows, "tokens": tokens, "truncated": truncated, "error": problems}
        return _with_columns(batch, added, self.dimensions)


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


class _CheckRow:
    """For ``Dataset.map``, before any batching: a row that cannot be embedded is named (``on_bad_row=
    "error"``) or kept with its text and title columns emptied and its ``error`` said, so every block has
    the same column types and Ray can batch them."""

    def __init__(self, options: RowOptions) -> None:
        self.options = options

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        options, problem = self.options, self.options.problem(row)
        options.refuse([row.get(options.id_column)], [problem])
        row = dict(row)
        if problem:
            row[options.text_column] = None
            if options.title_column:
                row[options.title_column] = None
        row["error"] = problem
        return row


def _column_names(batch: Any) -> list[str]:
    if hasattr(batch, "column_names"):  # pyarrow.Table
        return list(batch.column_names)
    return list(batch.keys() if isinstance(batch, dict) else batch.columns)  # numpy (a dict) or pandas


def _has_column(batch: Any, name: str) -> bool:
    return name in _column_names(batch)


def _read_columns(batch: Any, names: list[str]) -> dict[str, list[Any]]:
    """Columns of a pyarrow, pandas or numpy (dict of arrays) batch, as Python lists."""
    present = _column_names(batch)
    for name in names:
        if name not in present:
            raise KeyError(f"the dataset has no column {name!r} (columns: {', '.join(map(str, present))}).")
    if hasattr(batch, "column_names"):  # pyarrow.Table
        return {name: batch.column(name).to_pylist() for name in names}
    return {name: list(batch[name].tolist()) for name in names}  # pandas.DataFrame or dict of numpy arrays


def _with_columns(batch: Any, added: dict[str, list[Any]], dimensions: int) -> Any:
    """``batch`` with ``added`` columns, in its own format (a re-run replaces them)."""
    vector_column = next(iter(added))
    if hasattr(batch, "column_names"):  # pyarrow.Table
        import pyarrow as pa

        vectors = [None if row is None else row.tolist() for row in added[vector_column]]
        arrays = {
            vector_column: pa.array(vectors, type=pa.list_(pa.float32(), dimensions)),
            "tokens": pa.array(added["tokens"], type=pa.int32()),
            "truncated": pa.array(added["truncated"], type=pa.bool_()),
            "error": pa.array(added["error"], type=pa.string()),
        }
        out = batch.drop_columns([name for name in arrays if name in batch.column_names])
        for name, array in arrays.items():
            out = out.append_column(name, array)
        return out
    vectors = np.empty(len(added[vector_column]), dtype=object)
    vectors[:] = added[vector_column]
    columns = {
        vector_column: vectors,
        "tokens": np.asarray(added["tokens"], dtype=np.int32),
        "truncated": np.asarray(added["truncated"], dtype=bool),
        "error": np.asarray(added["error"], dtype=object),
    }
    if isinstance(batch, dict):  # numpy
        return {**batch, **columns}
    return batch.assign(**columns)  # pandas


def embed_dataset(
    dataset: ray.data.Dataset,
    settings: Mapping[str, Any] | EmbeddingSettings | None = None,
    *,
    actors: int | tuple[int, int] = 1,
    cpus_per_actor: float = 1,
    gpus_per_actor: float = 0,
    batch_size: int = 64,
    **options: Any,
) -> ray.data.Dataset:
    """``dataset`` with a vector column, embedded by a pool of ``actors`` (a size, or ``(min, max)``); the
    other keywords are those of :class:`RowOptions`.

    Every row is checked first (a ``Dataset.map``), so a bad row is named by its id even where Ray could
    not batch it. Each actor loads the model once and runs ``cpus_per_actor`` threads; with
    ``gpus_per_actor`` it gets a GPU and the torch engine on it (``device="auto"``). Lazy, like every Ray
    Data transform.
    """
    import ray.data

    row_options = RowOptions(**options)
    size = {"size": actors} if isinstance(actors, int) else {"min_size": actors[0], "max_size": actors[1]}
    if isinstance(settings, EmbeddingSettings):
        settings = settings.core_settings().model_dump(exclude={"cache"}) | {"api_key": settings.api_key}
    # The check reserves no CPU: where Ray does not fuse it into the actors' stage, a task of its own must
    # not wait for a CPU the actor pool holds (one actor of every CPU would otherwise never get its input).
    return dataset.map(_CheckRow(row_options), num_cpus=0).map_batches(
        EmbedBatches,
        fn_constructor_kwargs={"settings": settings, "threads": max(1, int(cpus_per_actor)), **asdict(row_options)},
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
