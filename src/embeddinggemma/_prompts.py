"""EmbeddingGemma's task prompts, as the model card writes them. Data, not code paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Side = Literal["query", "document"]

DOCUMENT_TEMPLATE = "title: {title} | text: "
NO_TITLE = "none"


@dataclass(frozen=True)
class TaskPrompts:
    """The prompt put before a query and before a document for one task."""

    query: str
    document: str


def _query(task_words: str) -> str:
    return f"task: {task_words} | query: "


TASKS: dict[str, TaskPrompts] = {
    "retrieval": TaskPrompts(_query("search result"), DOCUMENT_TEMPLATE),
    "question_answering": TaskPrompts(_query("question answering"), DOCUMENT_TEMPLATE),
    "fact_checking": TaskPrompts(_query("fact checking"), DOCUMENT_TEMPLATE),
    "code_retrieval": TaskPrompts(_query("code retrieval"), DOCUMENT_TEMPLATE),
    # Symmetric tasks: both sides get the same prompt.
    "classification": TaskPrompts(_query("classification"), _query("classification")),
    "clustering": TaskPrompts(_query("clustering"), _query("clustering")),
    "semantic_similarity": TaskPrompts(_query("sentence similarity"), _query("sentence similarity")),
    # No prompt at all: for texts the caller has already prompted, or for experiments.
    "raw": TaskPrompts("", ""),
}

# A text that already starts with one of these was prompted by the caller: never prefix it twice.
_ALREADY_PROMPTED = re.compile(r"^(task: [a-z ]+ \| query: |title: .*? \| text: )", re.DOTALL)


def is_prompted(text: str) -> bool:
    """True when ``text`` already begins with an EmbeddingGemma prompt."""
    return _ALREADY_PROMPTED.match(text) is not None


def format_title(title: str | None) -> str:
    """The title as the document prompt writes it: ``none`` when missing or blank."""
    if title is None or not title.strip():
        return NO_TITLE
    return " ".join(title.split())


def apply_prompt(text: str, template: str, title: str | None = None) -> str:
    """Prefix ``text`` with ``template`` (``{title}`` filled in), unless it is already prompted."""
    if not template or is_prompted(text):
        return text
    return template.replace("{title}", format_title(title)) + text
