"""The EmbeddingGemma models this package runs, and how a model is recognised as one of them. Data only.

A model's family decides its context length, its hub id, which engines and artifacts can run it, and
which tokenizer counts for a server (whose files this package cannot see). Both families take the model
card's task prompts (``_prompts.TASKS``). It is read from the
model's own ``config.json`` (``model_type``) where the model is a local folder, else from its name, else
from the ``model_family`` setting.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

AUTO = "auto"


@dataclass(frozen=True)
class Family:
    """One EmbeddingGemma model family."""

    name: str
    """The ``model_family`` setting's value."""
    title: str
    hub_id: str
    context: int
    """Tokens the model reads, prompt and special tokens included."""
    gated: bool
    """Its hub id needs an accepted licence and a login."""
    model_types: tuple[str, ...]
    """``config.json`` ``model_type`` values of its transformer (the text model and, for version 2, the
    composite one whose vision and audio towers this package never loads)."""
    name_marks: tuple[str, ...]
    """Patterns in the last part of a hub id, file or server model name that say the model is of this family
    (``embeddinggemma-2``, ``embedding_gemma2``, ... but not ``embeddinggemma-256d``)."""
    not_on: tuple[str, ...]
    """Engines that cannot run it (llama.cpp has no EmbeddingGemma 2 graph: no ``q8_0`` / ``q4_0`` for it)."""
    ollama_tag: str
    """Ollama's library name for it (used when ``model`` is left at the hub id)."""


EMBEDDINGGEMMA = Family(
    name="embeddinggemma",
    title="EmbeddingGemma",
    hub_id="google/embeddinggemma-300m",
    context=2048,
    gated=True,
    model_types=("gemma3_text",),
    name_marks=(),
    not_on=(),
    ollama_tag="embeddinggemma",
)
EMBEDDINGGEMMA_2 = Family(
    name="embeddinggemma-2",
    title="EmbeddingGemma 2",
    hub_id="google/embeddinggemma-2",
    context=8192,
    gated=False,
    model_types=("embedding_gemma2", "embedding_gemma2_text"),
    name_marks=(r"embedding[-_]?gemma[-_]?2(?![0-9])",),
    not_on=("llama.cpp",),
    ollama_tag="embeddinggemma-2",
)
FAMILIES: tuple[Family, ...] = (EMBEDDINGGEMMA, EMBEDDINGGEMMA_2)
FAMILY_NAMES = (AUTO, *(family.name for family in FAMILIES))
LONGEST_CONTEXT = max(family.context for family in FAMILIES)


def family(name: str) -> Family:
    return next(row for row in FAMILIES if row.name == name)


def family_of_config(config: dict) -> Family | None:
    """The family whose transformer ``config`` (a parsed ``config.json``) describes, or None."""
    model_type = config.get("model_type")
    return next((row for row in FAMILIES if model_type in row.model_types), None)


def family_of_folder(folder: str | os.PathLike[str]) -> Family | None:
    """The family of the model folder at ``folder`` from its ``config.json``; None when it has none (or
    it is unreadable: the model loader names that problem) or names another model type."""
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None
    return family_of_config(config) if isinstance(config, dict) else None


def family_of_name(name: str) -> Family | None:
    """The family a hub id, file or server model name says, or None when it says nothing."""
    last = name.lower().rstrip("/").rsplit("/", 1)[-1]
    return next((row for row in FAMILIES if any(re.search(mark, last) for mark in row.name_marks)), None)


def detect(model: str, declared: str = AUTO) -> Family:
    """The family of ``model`` (a folder, file, hub id or server model name): ``declared`` when it is not
    ``auto``, else what the folder's config says, else what the name says, else version 1."""
    if declared != AUTO:
        return family(declared)
    path = os.path.expanduser(model)
    found = family_of_folder(path) if os.path.isdir(path) else None
    return found or family_of_name(model) or EMBEDDINGGEMMA
