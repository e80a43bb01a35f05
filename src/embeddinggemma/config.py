"""One validated settings object; both adapters map their fields onto it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from .prompts import TASKS, TaskPrompts

DEFAULT_MODEL = "google/embeddinggemma-300m"
DIMENSIONS = (768, 512, 256, 128)
MAX_SEQ_LENGTH = 2048
TRUNCATION_POLICIES = ("warn", "error", "silent")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16")

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

    @classmethod
    def from_attributes(cls, source: object, renamed: Mapping[str, str] | None = None) -> EmbeddingConfig:
        """Read every setting from ``source``'s attributes of the same name (or ``renamed[name]``)."""
        renamed = renamed or {}
        return cls(**{f.name: getattr(source, renamed.get(f.name, f.name)) for f in fields(cls)})

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
