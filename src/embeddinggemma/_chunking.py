"""Chunks that fit EmbeddingGemma exactly: counted with its own tokenizer, prompt and title included.

:class:`TextChunker` cuts a text into slices of the source (no character added or changed; only the
whitespace at a chunk's edges is left out, as LangChain's and LlamaIndex's splitters leave it out)
so that each slice, put into the document prompt with its title, is at most ``chunk_size`` tokens:
nothing is ever truncated when the chunk is embedded. Cuts fall on the strongest boundary that keeps
a chunk at least half full: a blank line, then a line break, a sentence end, a clause mark, a space,
and only for text with none of those (CJK without punctuation, base64) between characters.
Consecutive chunks share up to ``chunk_overlap`` tokens of whole sentences (or finer pieces).

Both framework splitters (LangChain's ``TextSplitter``, LlamaIndex's ``NodeParser``) are this class.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._prompts import apply_prompt
from ._settings import ChunkingSettings
from ._tokenizer import Tokenizer, load_tokenizer

__all__ = ["Chunk", "TextChunker"]

MIN_TEXT_TOKENS = 8
"""The least room a chunk must leave for text after the prompt and title."""

# Boundaries from strongest to weakest. A cut goes after a match's line breaks and before its spaces
# (see _cut_at); the slices always join back into the source.
_BOUNDARIES = (
    re.compile(r"\n[^\S\n]*\n\s*"),  # blank line(s): a paragraph ends (\r\n included: \r is blank space)
    re.compile(r"\n\s*"),  # a line ends
    re.compile(r"(?<=[.!?…])[\"'”’»)\]]*\s+|(?<=[。！？；])\s*|(?<=[؟۔।])\s*"),  # a sentence ends
    re.compile(r"(?<=[,;:，、،])\s*"),  # a clause ends
    re.compile(r"\s+"),  # a word ends
)
_SENTENCE = 2
"""The finest boundary every text is cut at; finer ones only where a sentence does not fit."""
_CHARACTERS = len(_BOUNDARIES)
"""The boundary strength of a cut between two characters (the weakest)."""
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_GLUE = {"\u200d", "\ufe0f", "\ufe0e"}
"""Characters a cut never goes right after or before (ZWJ sequences, emoji presentation)."""


@dataclass(frozen=True)
class Chunk:
    """One chunk: ``source[start:end] == text`` (no whitespace at its edges); ``tokens`` counts it as embedded."""

    text: str
    start: int
    end: int
    tokens: int


@dataclass
class _Piece:
    start: int
    end: int
    strength: int  # the boundary right after this piece: 0 strongest .. _CHARACTERS weakest
    tokens: int


class TextChunker:
    """Splits texts into chunks that EmbeddingGemma embeds whole.

    Takes :class:`~embeddinggemma.ChunkingSettings` (or its keywords): ``tokenizer`` is the model's local
    folder or its hub id (only the tokenizer files are fetched, not the weights); the document prompt
    is the task's unless ``document_prompt`` overrides it, exactly as in the embedding settings.

    Example:
        .. code-block:: python

            from embeddinggemma import TextChunker

            chunker = TextChunker("google/embeddinggemma-300m", chunk_size=512, chunk_overlap=64)
            for chunk in chunker.split(long_text, title="Mars"):
                print(chunk.start, chunk.end, chunk.tokens)
    """

    def __init__(self, tokenizer: object = None, **settings: Any) -> None:
        loaded = None
        if isinstance(tokenizer, ChunkingSettings):
            chosen = ChunkingSettings(**{**dict(tokenizer.chunking_settings()), **settings})
        else:
            if isinstance(tokenizer, Tokenizer):  # already loaded (by a splitter of this process)
                loaded, tokenizer = tokenizer, str(tokenizer.folder)
            elif tokenizer is not None and not isinstance(tokenizer, str | os.PathLike):
                raise TypeError(
                    "tokenizer must be the model's folder, its hub id or a loaded tokenizer, got "
                    f"{type(tokenizer).__name__}."
                )
            chosen = ChunkingSettings(**({"tokenizer": tokenizer} if tokenizer is not None else {}), **settings)
        self.settings = chosen
        self.chunk_size = chosen.chunk_size
        self.chunk_overlap = chosen.chunk_overlap
        self.template = chosen.document_template
        self._tokenizer = loaded or load_tokenizer(chosen.tokenizer)

    @property
    def tokenizer(self):  # noqa: ANN201 - the private Tokenizer type
        return self._tokenizer

    def count(self, texts: Sequence[str], *, title: str | None = None) -> list[int]:
        """Tokens of each text as it is embedded as a document with ``title``."""
        return self._tokenizer.count([apply_prompt(text, self.template, title) for text in texts])

    def split(self, text: str, *, title: str | None = None, render: Callable[[str], str] | None = None) -> list[Chunk]:
        """The chunks of ``text``; ``[]`` for an empty or blank text.

        ``render`` turns a chunk into the string actually embedded when a framework adds to it (LlamaIndex
        puts metadata before a node's text); the chunk size holds for that string, prompt included.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}.")
        if not text.strip():
            return []
        template, show = self.template, render or (lambda body: body)

        def measure(bodies: Sequence[str]) -> list[int]:
            return self._tokenizer.count([apply_prompt(show(body), template, title) for body in bodies])

        start, end = _trimmed(text, 0, len(text))
        whole = measure([text[start:end]])[0]
        if whole <= self.chunk_size:
            return [Chunk(text[start:end], start, end, whole)]
        room = self.chunk_size - measure([""])[0]
        if room < MIN_TEXT_TOKENS:
            raise ValueError(
                f"chunk_size={self.chunk_size} leaves {room} tokens for text after the prompt and title "
                f"({self.chunk_size - room} tokens); raise chunk_size or shorten the title."
            )
        splitter = _Splitter(text, self._tokenizer.count)
        return self._merge(splitter, splitter.pieces(room), room, measure)

    # -- merging pieces into chunks -------------------------------------------------------------------
    def _merge(
        self, splitter: _Splitter, pieces: list[_Piece], room: int, measure: Callable[[Sequence[str]], list[int]]
    ) -> list[Chunk]:
        text = splitter.text
        chunks: list[Chunk] = []
        first, done = 0, 0  # done: pieces[:done] are in a chunk already
        while done < len(pieces):
            stop = self._window(pieces, first, room)
            # Piece counts are estimates of the joined text (tokens can merge across a cut): check the
            # exact string and give back whole pieces until it fits.
            while True:
                start, end = _trimmed(text, pieces[first].start, pieces[stop - 1].end)
                body = text[start:end]
                tokens = measure([body])[0]
                if tokens <= self.chunk_size:
                    break
                if stop - first == 1:  # one piece over by a token or two: cut it finer, then go on
                    pieces[first : first + 1] = splitter.characters(
                        pieces[first], room - (tokens - self.chunk_size) - 2
                    )
                    stop = first + 1
                else:
                    stop -= 1
            if stop <= done:  # the overlap left no room for new text: start this chunk without it
                first = done
                continue
            chunks.append(Chunk(body, start, end, tokens))
            done = stop
            first = self._overlap_start(splitter, pieces, first, stop, room)
        return chunks

    @staticmethod
    def _window(pieces: list[_Piece], first: int, room: int) -> int:
        """The end (exclusive) of the chunk starting at ``first``, by the pieces' token estimates."""
        stop, total = first, 0
        while stop < len(pieces) and total + pieces[stop].tokens <= room:
            total += pieces[stop].tokens
            stop += 1
        stop = max(stop, first + 1)
        return _best_cut(pieces, first, stop, total) if stop < len(pieces) else stop

    def _overlap_start(self, splitter: _Splitter, pieces: list[_Piece], first: int, stop: int, room: int) -> int:
        """Where the next chunk starts: the last pieces of this one that fit in ``chunk_overlap`` tokens
        (counted exactly) and leave room for the next piece."""
        if stop >= len(pieces):
            return stop
        limit = min(self.chunk_overlap, room - pieces[stop].tokens)
        start, shared = stop, 0
        while start - 1 > first and shared + pieces[start - 1].tokens <= limit:
            shared += pieces[start - 1].tokens
            start -= 1
        while start < stop and splitter.tokens([(pieces[start].start, pieces[stop - 1].end)])[0] > limit:
            start += 1
        return start


def _best_cut(pieces: list[_Piece], first: int, stop: int, total: int) -> int:
    """The end (exclusive) of the chunk ``pieces[first:stop]``: at its strongest boundary in the back half."""
    best, strength, running = stop, pieces[stop - 1].strength, 0
    for i in range(first, stop):
        running += pieces[i].tokens
        if running * 2 >= total and pieces[i].strength < strength:
            best, strength = i + 1, pieces[i].strength
    return best


class _Splitter:
    """Cuts a text into pieces of at most ``room`` tokens each, at the strongest boundaries available."""

    def __init__(self, text: str, count: Callable[[Sequence[str]], list[int]]) -> None:
        self.text = text
        self._count = count
        self._special = count([""])[0]  # <bos> and <eos>: a piece's count is without them

    def tokens(self, spans: Sequence[tuple[int, int]]) -> list[int]:
        counts = self._count([self.text[a:b] for a, b in spans])
        return [n - self._special for n in counts]

    def pieces(self, room: int) -> list[_Piece]:
        # Every text goes down to sentences (small units for cuts and overlap); a sentence longer than
        # ``room`` goes on down to clauses, words, then characters.
        spans = [(0, len(self.text), 0)]
        for level in range(_SENTENCE + 1):
            spans = [cut for span in spans for cut in self._cut(span, level)]
        pieces: list[_Piece] = []
        for span, tokens in zip(spans, self.tokens([(a, b) for a, b, _ in spans]), strict=True):
            pieces.extend(self._fit(_Piece(*span, tokens), room, _SENTENCE + 1))
        return _glue_blank(pieces, self.text)

    def _fit(self, piece: _Piece, room: int, level: int) -> list[_Piece]:
        if piece.tokens <= room:
            return [piece]
        if level == _CHARACTERS:
            return self.characters(piece, room)
        spans = self._cut((piece.start, piece.end, piece.strength), level)
        if len(spans) == 1:
            return self._fit(piece, room, level + 1)
        counts = self.tokens([(a, b) for a, b, _ in spans])
        return [
            part for span, n in zip(spans, counts, strict=True) for part in self._fit(_Piece(*span, n), room, level + 1)
        ]

    def _cut(self, span: tuple[int, int, int], level: int) -> list[tuple[int, int, int]]:
        """``span`` cut after each match of boundary ``level``; the last part keeps the span's own boundary."""
        start, end, strength = span
        cuts = [cut for m in _BOUNDARIES[level].finditer(self.text, start, end) if start < (cut := _cut_at(m)) < end]
        bounds = [start, *cuts, end]
        parts = [(a, b, level) for a, b in zip(bounds, bounds[1:], strict=False) if a < b]
        parts[-1] = (parts[-1][0], parts[-1][1], strength)
        return parts

    def characters(self, piece: _Piece, room: int) -> list[_Piece]:
        """``piece`` cut between characters into parts of at most ``room`` tokens (text without boundaries)."""
        room = max(room, 1)
        out: list[_Piece] = []
        start, end = piece.start, piece.end
        while start < end:
            remaining = self.tokens([(start, end)])[0]
            if remaining <= room:
                out.append(_Piece(start, end, piece.strength, remaining))
                break
            # Characters per token of this stretch give a first guess; a binary search then finds the
            # longest prefix that fits.
            guess = max(1, int((end - start) * room / remaining * 1.5))
            low, high = start + 1, min(end, start + guess)
            while high < end and self.tokens([(start, high)])[0] <= room:
                high = min(end, start + 2 * (high - start))
            while low < high:
                middle = (low + high + 1) // 2
                if self.tokens([(start, middle)])[0] <= room:
                    low = middle
                else:
                    high = middle - 1
            cut = _clean_cut(self.text, start, low)
            out.append(_Piece(start, cut, _CHARACTERS, self.tokens([(start, cut)])[0]))
            start = cut
        return out


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` without the whitespace at its edges: a trailing newline alone moves a vector (a
    sample document's score for its own question fell by 0.02), and splitters conventionally strip it."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_at(match: re.Match[str]) -> int:
    """Where a boundary cuts: after its line breaks, before its spaces. The tokenizer writes a space into
    the word after it ("▁word"), so a piece that starts with its space counts as it does in the chunk."""
    text, cut = match.string, match.end()
    while cut > match.start() and text[cut - 1] not in _LINE_BREAKS and text[cut - 1].isspace():
        cut -= 1
    return cut


def _clean_cut(text: str, start: int, cut: int) -> int:
    """Move a cut back off combining marks and joiners, so a character with its marks stays whole."""
    best = cut
    while best - 1 > start and (unicodedata.combining(text[best]) or text[best] in _GLUE or text[best - 1] in _GLUE):
        best -= 1
    return best if best > start else cut


def _glue_blank(pieces: list[_Piece], text: str) -> list[_Piece]:
    """Join whitespace-only pieces to the next piece (to the previous one at the end): no blank chunks."""
    out: list[_Piece] = []
    carry: _Piece | None = None
    for piece in pieces:
        if not text[piece.start : piece.end].strip():
            carry = (
                piece if carry is None else _Piece(carry.start, piece.end, piece.strength, carry.tokens + piece.tokens)
            )
            continue
        if carry is not None:
            piece = _Piece(carry.start, piece.end, piece.strength, carry.tokens + piece.tokens)
            carry = None
        out.append(piece)
    if carry is not None:
        if out:
            last = out[-1]
            out[-1] = _Piece(last.start, carry.end, carry.strength, last.tokens + carry.tokens)
        else:
            out.append(carry)
    return out
