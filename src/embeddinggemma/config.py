"""One validated settings object; both adapters map their fields onto it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from .prompts import TASKS, TaskPrompts

DEFAULT_MODEL = "google/embeddinggemma-300m"
DIMENSIONS = (768, 512, 256, 128)
MAX_SEQ_LENGTH = 2048
TRUNCATION_POLICIES = ("warn", "error", "silent")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16")
BACKENDS = ("local", "ollama", "openai")
QUANTIZATIONS = ("q8_0", "q4_0", "int8")

Truncation = Literal["warn", "error", "silent"]


@dataclass(frozen=True)
class EmbeddingConfig:
    """Everything that decides what vector a text gets, validated once at construction."""

    model: str = DEFAULT_MODEL
    """Hub id (gated: accept the licence and log in) or a local sentence-transformers folder."""
    task: str = "retrieval"
    """A key of :data:`embeddinggemma.TASKS`; ``"raw"`` applies no prompt."""
    dimensions: int = 768
    """Matryoshka output size: 768, 512, 256 or 128. Smaller vectors are re-normalised."""
    truncation: Truncation = "warn"
    """What to do with inputs longer than ``max_seq_length`` tokens (prompt included)."""
    max_seq_length: int = MAX_SEQ_LENGTH
    """Token budget per input, prompt and special tokens included; at most 2048."""
    device: str = "auto"
    """``auto`` picks cuda, then mps, then cpu; ``cuda:1`` style names are accepted."""
    dtype: str = "auto"
    """``auto`` is bfloat16 on a CUDA GPU that supports it, else float32. float16 is refused."""
    batch_size: int = 32
    """Texts per forward pass."""
    query_prompt: str | None = None
    """Overrides the task's query prompt."""
    document_prompt: str | None = None
    """Overrides the task's document prompt; ``{title}`` is replaced by the title."""
    show_progress: bool = False
    """Show a progress bar while embedding."""
    backend: str = "local"
    """``local`` runs the model in this process; ``ollama`` and ``openai`` (any OpenAI-compatible
    ``/v1/embeddings`` server) send prompted texts to a server. Vectors mean the same either way."""
    quantization: str | None = None
    """Local on-device runtimes: ``q8_0`` / ``q4_0`` (GGUF via llama.cpp) or ``int8`` (ONNX Runtime).
    ``None`` is the exact float32/bfloat16 torch path."""
    base_url: str | None = None
    """Server address for ``ollama`` / ``openai`` backends (``None``: the backend's default)."""
    api_key: str | None = field(default=None, repr=False)
    """Bearer token for an OpenAI-compatible server; never logged or shown."""
    timeout: float = 60.0
    """Seconds to wait for a server response."""
    max_retries: int = 2
    """Retries (with backoff) after 429/5xx answers or dropped connections; never after input errors."""
    max_concurrency: int = 4
    """Requests in flight at once from async calls to a server."""
    keep_alive: str | None = None
    """Ollama's ``keep_alive`` (e.g. ``"5m"``, ``"-1"``); ``None`` leaves the server's default."""

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(
                f"model={self.model!r} is not usable: pass the hub id {DEFAULT_MODEL!r} "
                "or the path of a local model folder."
            )
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r} is unknown; valid tasks: {', '.join(TASKS)}.")
        if isinstance(self.dimensions, bool) or self.dimensions not in DIMENSIONS:
            raise ValueError(
                f"dimensions={self.dimensions!r} is not a Matryoshka size of EmbeddingGemma; "
                f"use one of {', '.join(map(str, DIMENSIONS))}."
            )
        if self.truncation not in TRUNCATION_POLICIES:
            raise ValueError(f"truncation={self.truncation!r} is unknown; use one of {', '.join(TRUNCATION_POLICIES)}.")
        if (
            isinstance(self.max_seq_length, bool)
            or not isinstance(self.max_seq_length, int)
            or not 1 <= self.max_seq_length <= MAX_SEQ_LENGTH
        ):
            raise ValueError(
                f"max_seq_length={self.max_seq_length!r} is out of range; "
                f"use an integer from 1 to {MAX_SEQ_LENGTH} (the model's context)."
            )
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} must be a positive integer.")
        if self.device.split(":")[0] not in DEVICES:
            raise ValueError(f"device={self.device!r} is unknown; use one of {', '.join(DEVICES)}.")
        if self.dtype in ("float16", "fp16", "half"):
            raise ValueError(
                f"dtype={self.dtype!r} is refused: EmbeddingGemma's activations overflow float16 and "
                "the vectors come out as NaN. Use dtype='bfloat16' (GPU) or 'float32', or 'auto'."
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} is unknown; use one of {', '.join(DTYPES)}.")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r} is unknown; use one of {', '.join(BACKENDS)}.")
        if self.quantization is not None:
            if self.quantization not in QUANTIZATIONS:
                raise ValueError(
                    f"quantization={self.quantization!r} is unknown; use one of {', '.join(QUANTIZATIONS)} "
                    "or None for the exact torch path."
                )
            if self.backend != "local":
                raise ValueError(
                    f"quantization={self.quantization!r} applies to the local backend; a server "
                    f"(backend={self.backend!r}) serves whatever weights it loaded: pick a quantized "
                    "model on the server instead (e.g. Ollama's embeddinggemma:300m-qat-q8_0)."
                )
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float) or self.timeout <= 0:
            raise ValueError(f"timeout={self.timeout!r} must be a positive number of seconds.")
        for name in ("max_retries", "max_concurrency"):
            value = getattr(self, name)
            low = 0 if name == "max_retries" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r} must be an integer >= {low}.")

    @classmethod
    def from_attributes(cls, source: object, renamed: Mapping[str, str] | None = None) -> EmbeddingConfig:
        """Read every setting from ``source``'s attributes of the same name (or ``renamed[name]``)."""
        renamed = renamed or {}
        values = {f.name: getattr(source, renamed.get(f.name, f.name)) for f in fields(cls)}
        secret = values.get("api_key")
        if secret is not None and hasattr(secret, "get_secret_value"):  # pydantic SecretStr
            values["api_key"] = secret.get_secret_value()
        return cls(**values)

    @property
    def is_local(self) -> bool:
        return self.backend == "local"

    @property
    def prompts(self) -> TaskPrompts:
        """The task's prompts with the user's overrides applied."""
        base = TASKS[self.task]
        return TaskPrompts(
            query=base.query if self.query_prompt is None else self.query_prompt,
            document=base.document if self.document_prompt is None else self.document_prompt,
        )


DEFAULTS = EmbeddingConfig()
"""The default settings, for adapters to declare their fields with."""
