"""What the RAG apps print: retrieved passages, notes, and one-line errors instead of tracebacks."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embeddinggemma import EmbeddingGemmaError


class AppError(Exception):
    """A problem the user can fix (bad folder, foreign index); printed as one line, no traceback."""


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk, as both apps print it."""

    source: str
    title: str
    score: float
    text: str


def print_passages(question: str, passages: Sequence[Passage]) -> None:
    print(f"\nquestion: {question}")
    print(f"retrieved {len(passages)} passages (score: cosine similarity):")
    for rank, passage in enumerate(passages, 1):
        print(f"  {rank}. {passage.score:.4f}  [{passage.source}] {passage.title}")
        snippet = textwrap.shorten(" ".join(passage.text.split()), width=160, placeholder=" ...")
        print(textwrap.indent(snippet, "       "))


def note(message: str) -> None:
    """A one-line remark about the input (a skipped file), on stderr so that stdout stays the answer."""
    print(f"note: {message}", file=sys.stderr)


def run(main: Callable[[], int]) -> None:
    """Run an app's ``main`` and exit with its status; user-fixable errors become one line, not a traceback."""
    try:
        status = main()
    except KeyboardInterrupt:
        status = 130
    except (AppError, EmbeddingGemmaError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        status = 1
    sys.exit(status)
