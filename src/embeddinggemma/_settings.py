"""The settings models. Every setting is declared here once, with its doc line and its check.

Both adapters inherit :class:`EmbeddingSettings` (both splitters :class:`ChunkingSettings`), so a
setting added here appears in LangChain and LlamaIndex with its default, documentation and validation,
and reaches the pipeline without any mapping code. These models are data and checks only: the pipeline
a setting configures is built elsewhere (:class:`embeddinggemma.Pipelined`). Checks run per field,
before a value is stored: a refused value (at construction or by assignment) leaves the object exactly
as it was.
"""

from __future__ import annotations

import difflib
import numbers
import os
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._families import EMBEDDINGGEMMA, FAMILY_NAMES, LONGEST_CONTEXT, Family, detect, family_of_folder
from ._prompts import TASKS, TaskPrompts
from ._registry import (
    AUTO,
    BACKENDS,
    DEFAULT_MODEL,
    ENGINES,
    LOCAL,
    QUANTIZATIONS,
    engine,
    quantization_engine,
)

DIMENSIONS = (768, 512, 256, 128)
"""EmbeddingGemma's Matryoshka sizes; the first is the model's full width."""
FULL_DIMENSIONS = DIMENSIONS[0]
MAX_SEQ_LENGTH = EMBEDDINGGEMMA.context
"""EmbeddingGemma's context (EmbeddingGemma 2 reads 8192: see :data:`embeddinggemma.FAMILIES`)."""
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16")
_FLOAT16 = ("float16", "fp16", "half")
DEFAULT_CHUNK_SIZE = 512
"""Tokens per chunk, prompt, title and special tokens included (see the README for why)."""
DEFAULT_CHUNK_OVERLAP = 64
TITLE_KEY = "title"
INDEX_PRECISIONS = ("float32", "float16", "int8", "binary")
"""How a vector index stores vectors, most exact first (:mod:`embeddinggemma.vector_index`)."""
RESCORES = ("int8", "float32")

Truncation = Literal["warn", "error", "silent"]
TRUNCATIONS = ("warn", "error", "silent")
_CHOICES = {
    "task": tuple(TASKS),
    "truncation": TRUNCATIONS,
    "backend": BACKENDS,
    "engine": ENGINES,
    "model_family": FAMILY_NAMES,
}
_FIXED_CHOICES: dict[str, tuple[object, ...]] = {
    **_CHOICES,
    "index_precision": INDEX_PRECISIONS,
    "rescore": RESCORES,
    "dimensions": DIMENSIONS,
    "quantization": QUANTIZATIONS,
    "dtype": DTYPES,
}
_INTEGER_BOUNDS = {
    "max_seq_length": (1, LONGEST_CONTEXT),
    "batch_size": (1, None),
    "max_retries": (0, None),
    "max_concurrency": (1, None),
}


def _integer(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; bools, floats and strings are refused, not coerced."""
    in_range = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if in_range:
        value = int(value)  # type: ignore[arg-type]
        in_range = value >= low and (high is None or value <= high)
    if not in_range:
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name}={value!r} must be an integer {bound}.")
    return value  # type: ignore[return-value]


def _choice(name: str, value: object, choices: tuple[object, ...]) -> Any:
    if value not in choices or isinstance(value, bool):
        raise ValueError(f"{name}={value!r} is unknown; use one of {', '.join(map(repr, choices))}.")
    return value


class _Settings(BaseModel):
    """What both settings models share: unknown keywords refused with a "did you mean", and a refused
    assignment leaving the object exactly as it was."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, protected_namespaces=(), use_attribute_docstrings=True
    )

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in cls.model_fields]
            if unknown:
                raise ValueError(_unknown_message(unknown[0], cls.setting_names()))
        return data

    @field_validator(*_CHOICES, mode="before", check_fields=False)  # those of the fields each model has
    @classmethod
    def _check_choice(cls, value: object, info: ValidationInfo) -> str:
        return _choice(info.field_name, value, _CHOICES[info.field_name])

    @classmethod
    def setting_names(cls) -> list[str]:
        """Every keyword this class accepts."""
        return sorted(cls.model_fields)

    @classmethod
    def choices(cls, name: str) -> tuple[object, ...] | None:
        """The values setting ``name`` accepts, where they are a fixed list (``None`` elsewhere)."""
        return _FIXED_CHOICES.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name not in type(self).model_fields:
            if not name.startswith("_") and name not in dir(type(self)):
                raise AttributeError(_unknown_message(name, self.setting_names()))
            super().__setattr__(name, value)
            return
        # pydantic runs the combination checks after storing the value: put everything back on a refusal.
        before, fields_set = dict(self.__dict__), set(self.__pydantic_fields_set__)
        try:
            super().__setattr__(name, value)
        except Exception:
            object.__setattr__(self, "__dict__", before)
            object.__setattr__(self, "__pydantic_fields_set__", fields_set)
            raise


class _TitleKey(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    title_key: str = TITLE_KEY
    """Metadata key (of a LangChain ``Document`` or a LlamaIndex node) whose value is the title in the
    document prompt."""


class EmbeddingSettings(_Settings, _TitleKey):
    """Everything that decides what vector a text gets and how it is computed, validated once."""

    model: str = DEFAULT_MODEL
    """Hub id (``google/embeddinggemma-300m`` is gated: accept the licence and log in;
    ``google/embeddinggemma-2`` is not) or a local sentence-transformers folder or ``.gguf`` file; for
    ``ollama`` / ``openai`` backends, the name the server knows the model by."""
    model_family: str = "auto"
    """``auto`` (from the model folder's config, else from the model's name), ``embeddinggemma`` or
    ``embeddinggemma-2``: decides the context length and, for a server, the tokenizer that counts."""
    task: str = "retrieval"
    """EmbeddingGemma task: retrieval, question_answering, fact_checking, code_retrieval, classification,
    clustering, semantic_similarity, or raw (no prompt)."""
    dimensions: int = FULL_DIMENSIONS
    """Matryoshka output size: 768, 512, 256 or 128. Smaller vectors are re-normalised."""
    truncation: Truncation = "warn"
    """Inputs longer than ``max_seq_length`` tokens (prompt included): ``warn``, ``error`` or ``silent``."""
    max_seq_length: int = MAX_SEQ_LENGTH
    """Token budget per input, prompt and special tokens included; by default, and at most, the model's
    context: 2048 for EmbeddingGemma, 8192 for EmbeddingGemma 2."""
    device: str = "auto"
    """``auto`` (a CUDA or Apple GPU when one is present and torch is installed, else the CPU), ``cpu``,
    ``cuda``, ``cuda:N`` or ``mps`` (the last three run on torch)."""
    dtype: str = "auto"
    """``auto`` (bfloat16 on a capable CUDA GPU, else float32), ``float32`` or ``bfloat16``; float16 is
    refused (EmbeddingGemma's activations overflow it)."""
    batch_size: int = 32
    """Texts per forward pass (local) or per request (servers)."""
    query_prompt: str | None = None
    """Overrides the task's query prompt."""
    document_prompt: str | None = None
    """Overrides the task's document prompt; ``{title}`` is replaced by the title."""
    show_progress: bool = False
    """Show a progress bar while embedding."""
    backend: str = LOCAL
    """Where the model runs: ``local`` (this process), ``ollama``, or ``openai`` (any OpenAI-compatible
    ``/v1/embeddings`` server). Prompts, sizes and checks are the same everywhere."""
    engine: str = AUTO
    """Which engine runs a local model: ``auto`` (torch on a CUDA or Apple GPU when torch is installed,
    else ONNX Runtime on the CPU, exact float32), ``onnxruntime``, ``torch``, ``openvino`` or ``llama.cpp``."""
    quantization: str | None = None
    """Smaller local runtimes: ``int8`` / ``int4`` (ONNX Runtime, no compiler: block-wise 8-bit weights, or
    4-bit with the sensitive projections at 8), ``q8_0`` / ``q4_0`` (GGUF, run by llama.cpp). ``None`` is
    the exact float path."""
    base_url: str | None = None
    """Server address for ``ollama`` / ``openai`` (``None``: the backend's default; ``openai`` also takes
    the presets ``llama-server`` and ``docker-model-runner``)."""
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    """Bearer token sent to the server (both server backends); never logged, shown or serialised."""
    timeout: float = 60.0
    """Seconds to wait for a server response."""
    max_retries: int = 2
    """Retries with backoff after 429/5xx answers or dropped connections; never after input errors."""
    max_concurrency: int = 4
    """Server requests in flight at once from async calls on one object."""
    keep_alive: str | None = None
    """Ollama's ``keep_alive`` (e.g. ``"5m"``, ``"-1"``); ``None`` leaves the server's default."""
    client_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for the server clients (``httpx.Client`` / ``ollama.Client``): headers,
    TLS verification, proxies, ..."""
    cache: Any = Field(default=None, exclude=True)
    """Vector cache: a folder path, a :class:`embeddinggemma.VectorCache`, or a key-value store (LangChain
    ``ByteStore``, LlamaIndex ``BaseKVStore``); ``None`` caches nothing. Keys hold every setting that
    decides a vector and the model files' hash: a changed setting is a miss, never a stale vector."""

    # -- checks, one per field ------------------------------------------------------------------
    @field_validator("model", mode="before")
    @classmethod
    def _check_model(cls, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(
                f"model={value!r} is not usable: pass the hub id {DEFAULT_MODEL!r} or the path of a local model folder."
            )
        return value

    @field_validator("cache", mode="before")
    @classmethod
    def _check_cache(cls, value: object) -> Any:
        from ._vector_cache import VectorCache

        if value is None or isinstance(value, VectorCache):
            return value
        try:
            return VectorCache(value)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ValueError(f"cache={value!r} is not usable: {exc}") from None
        except ValueError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("dimensions", mode="before")
    @classmethod
    def _check_dimensions(cls, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) not in DIMENSIONS:
            raise ValueError(
                f"dimensions={value!r} is not a Matryoshka size of EmbeddingGemma; "
                f"use one of {', '.join(map(str, DIMENSIONS))}."
            )
        return int(value)

    @field_validator(*_INTEGER_BOUNDS, mode="before")
    @classmethod
    def _check_integer(cls, value: object, info: ValidationInfo) -> int:
        return _integer(info.field_name, value, *_INTEGER_BOUNDS[info.field_name])

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"timeout={value!r} must be a positive number of seconds.")
        return float(value)

    @field_validator("device", mode="before")
    @classmethod
    def _check_device(cls, value: object) -> str:
        if not isinstance(value, str) or value.split(":")[0] not in DEVICES:
            raise ValueError(f"device={value!r} is unknown; use one of {', '.join(DEVICES)} (or 'cuda:N').")
        return value

    @field_validator("dtype", mode="before")
    @classmethod
    def _check_dtype(cls, value: object) -> str:
        if value in _FLOAT16:
            raise ValueError(
                f"dtype={value!r} is refused: EmbeddingGemma's activations overflow float16 and the vectors come "
                "out as NaN. Use dtype='bfloat16' (GPU) or 'float32', or 'auto'."
            )
        return _choice("dtype", value, DTYPES)

    @field_validator("quantization", mode="before")
    @classmethod
    def _check_quantization(cls, value: object) -> str | None:
        if value is not None and value not in QUANTIZATIONS:
            raise ValueError(
                f"quantization={value!r} is unknown; use one of {', '.join(map(repr, QUANTIZATIONS))} "
                "or None for the exact float path."
            )
        return value  # type: ignore[return-value]

    @model_validator(mode="after")
    def _check_combination(self) -> EmbeddingSettings:
        self._check_family()
        if self.quantization is not None and self.backend != LOCAL:
            raise ValueError(
                f"quantization={self.quantization!r} applies to the local backend; a server "
                f"(backend={self.backend!r}) serves whatever weights it loaded: pick a quantized "
                "model on the server instead (e.g. Ollama's embeddinggemma:300m-qat-q8_0)."
            )
        if self.engine != AUTO and self.backend != LOCAL:
            raise ValueError(
                f"engine={self.engine!r} applies to the local backend; backend={self.backend!r} is a server."
            )
        needed = quantization_engine(self.quantization) if self.quantization else None
        if needed and self.engine not in (AUTO, needed):
            raise ValueError(
                f"quantization={self.quantization!r} runs on {needed}, not engine={self.engine!r}: "
                f"pass engine='auto' (or {needed!r})."
            )
        device = self.device.split(":")[0]
        if self.engine != AUTO and device != "auto" and device not in engine(self.engine).devices:
            raise ValueError(
                f"engine={self.engine!r} runs on the CPU in this package; device={self.device!r} needs "
                "engine='torch' (or 'auto')."
            )
        return self

    def _check_family(self) -> None:
        """The declared family agrees with the model folder's config; ``max_seq_length`` fits the family's
        context, and is that context unless the user set it."""
        if self.model_family != "auto" and self.backend == LOCAL:
            found = family_of_folder(os.path.expanduser(self.model))
            if found is not None and found.name != self.model_family:
                raise ValueError(
                    f"model_family={self.model_family!r} does not match model={self.model!r}, whose config.json "
                    f"says it is {found.title}: pass model_family={found.name!r} or 'auto'."
                )
        family = self.family
        if self.backend == LOCAL:
            runs_on = quantization_engine(self.quantization) if self.quantization else self.engine
            if runs_on in family.not_on or (self.model.lower().endswith(".gguf") and "llama.cpp" in family.not_on):
                offered = [name for name in QUANTIZATIONS if quantization_engine(name) not in family.not_on]
                engine_name = runs_on if runs_on != AUTO else "llama.cpp"
                raise ValueError(
                    f"{family.title} (model={self.model!r}) does not run on {engine_name} in this package; use "
                    f"the default engine, engine='torch', or quantization={' / '.join(map(repr, offered))} (or, if the "
                    "model is EmbeddingGemma version 1, pass model_family='embeddinggemma')."
                )
        if "max_seq_length" not in self.model_fields_set:
            self.__dict__["max_seq_length"] = family.context
        elif self.max_seq_length > family.context:
            raise ValueError(
                f"max_seq_length={self.max_seq_length} is more than {family.title}'s {family.context} tokens "
                f"(model={self.model!r}). Use at most {family.context}."
            )

    # -- derived --------------------------------------------------------------------------------
    @property
    def family(self) -> Family:
        """The model's family (:mod:`embeddinggemma._families`): its context, hub id and engines."""
        return detect(self.model, self.model_family)

    @property
    def prompts(self) -> TaskPrompts:
        """The task's prompts with the user's overrides applied."""
        base = TASKS[self.task]  # one prompt table: both families use the model card's prompts
        return TaskPrompts(
            query=base.query if self.query_prompt is None else self.query_prompt,
            document=base.document if self.document_prompt is None else self.document_prompt,
        )

    def core_settings(self) -> EmbeddingSettings:
        """A plain copy of the core settings (framework fields dropped), for a pipeline to keep."""
        # The fields the user set stay marked as set: a copy must keep a max_seq_length the user chose,
        # and derive the default one from the model again.
        return EmbeddingSettings.model_construct(
            _fields_set=set(self.model_fields_set) & set(EmbeddingSettings.model_fields),
            **{name: getattr(self, name) for name in EmbeddingSettings.model_fields},
        )


class ChunkingSettings(_Settings, _TitleKey):
    """How texts are cut into chunks that EmbeddingGemma embeds whole: the options of
    :class:`~embeddinggemma.TextChunker` and of both frameworks' splitters, declared once."""

    chunk_size: int = DEFAULT_CHUNK_SIZE
    """Tokens per chunk as embedded (document prompt, title, metadata text and special tokens
    included); at most the model's context (2048; 8192 for EmbeddingGemma 2)."""
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    """Tokens shared by consecutive chunks (whole sentences or finer pieces, up to this many)."""
    tokenizer: str = DEFAULT_MODEL
    """The model's local folder or hub id; only its tokenizer files are read (no weights)."""
    model_family: str = "auto"
    """``auto`` (from the tokenizer folder's config, else its name), ``embeddinggemma`` or
    ``embeddinggemma-2``: decides the longest chunk (the model's context)."""
    task: str = "retrieval"
    """The EmbeddingGemma task whose document prompt is counted."""
    document_prompt: str | None = None
    """Overrides the task's document prompt, as in the embedding settings."""

    @field_validator("chunk_size", "chunk_overlap", mode="before")
    @classmethod
    def _check_tokens(cls, value: object, info: ValidationInfo) -> int:
        low = 1 if info.field_name == "chunk_size" else 0
        try:
            return _integer(info.field_name, value, low)
        except ValueError:
            raise ValueError(f"{info.field_name}={value!r} must be an integer >= {low} (tokens).") from None

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _check_tokenizer(cls, value: object) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(
                f"tokenizer={value!r} is not usable: pass the model's local folder or its hub id {DEFAULT_MODEL!r}."
            )
        return value

    @model_validator(mode="after")
    def _check_sizes(self) -> ChunkingSettings:
        family = detect(self.tokenizer, self.model_family)
        if self.chunk_size > family.context:
            raise ValueError(
                f"chunk_size={self.chunk_size} is more than {family.title}'s {family.context} tokens: a chunk that "
                f"long would be truncated. Use at most {family.context}."
            )
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap={self.chunk_overlap} must be smaller than chunk_size={self.chunk_size}.")
        return self

    @property
    def document_template(self) -> str:
        """The document prompt chunks are counted in (``{title}`` still to fill)."""
        return TASKS[self.task].document if self.document_prompt is None else self.document_prompt

    def chunking_settings(self) -> ChunkingSettings:
        """A plain copy of the chunking settings (framework fields dropped)."""
        return ChunkingSettings.model_construct(
            _fields_set=set(), **{name: getattr(self, name) for name in ChunkingSettings.model_fields}
        )

    @classmethod
    def matching(cls, embedding: EmbeddingSettings, **given: Any) -> dict[str, Any]:
        """The chunking keywords that match ``embedding`` (its tokenizer, task, prompt, title key, a size
        that fits), under the ones ``given``. A server backend's ``model`` is the server's name for the
        model, not a tokenizer: its family's hub id's tokenizer is used then."""
        local = embedding.backend == LOCAL and not embedding.model.lower().endswith(".gguf")
        size = given.get("chunk_size", min(DEFAULT_CHUNK_SIZE, embedding.max_seq_length))
        defaults: dict[str, Any] = {
            "tokenizer": embedding.model if local else embedding.family.hub_id,
            "model_family": embedding.model_family,
            "task": embedding.task,
            "document_prompt": embedding.document_prompt,
            "title_key": embedding.title_key,
            "chunk_size": size,
        }
        if "chunk_overlap" not in given and isinstance(size, int):
            defaults["chunk_overlap"] = min(DEFAULT_CHUNK_OVERLAP, size // 4)
        return {**defaults, **given}


class IndexSettings(_Settings):
    """How a vector index stores EmbeddingGemma's vectors (:mod:`embeddinggemma.vector_index`; the RAG apps'
    ``--index-precision``): with ``dimensions``, what decides an index's size and speed."""

    index_precision: str = "float32"
    """``float32`` (exact, 4 bytes a dimension), ``float16`` (2), ``int8`` (1: FAISS's scalar quantizer, its
    ranges calibrated on the indexed vectors) or ``binary`` (1 bit: Hamming search, then re-ranked)."""
    rescore: str = "int8"
    """What ``binary`` re-ranks its candidates with: ``int8`` vectors in memory, or ``float32`` ones read from
    disk (read with ``pread``: only the candidates' rows)."""
    oversample: int = 10
    """``binary`` candidates re-ranked per result wanted (``k x oversample``)."""

    @field_validator("index_precision", "rescore", mode="before")
    @classmethod
    def _check_choice(cls, value: object, info: ValidationInfo) -> str:
        return _choice(info.field_name, value, _FIXED_CHOICES[info.field_name])

    @field_validator("oversample", mode="before")
    @classmethod
    def _check_oversample(cls, value: object) -> int:
        return _integer("oversample", value, 1)


def _unknown_message(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{name!r} is not a setting of EmbeddingGemma.{hint} Valid settings: {', '.join(valid)}."
