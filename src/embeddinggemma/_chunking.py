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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._inputs import check_unicode
from ._prompts import apply_prompt
from ._settings import ChunkingSettings
from ._tokenizer import Tokenizer, load_tokenizer

__all__ = ["Chunk", "TextChunker"]

MIN_TEXT_TOKENS = 8
"""The least room a chunk must leave for text after the prompt and title."""
_SOURCE_KEYS = ("source", "file_path", "file_name")
"""Metadata keys that name where a document came from (LangChain's loaders, LlamaIndex's readers)."""
_PROBE = "x"
"""A one-token text: what a chunk's overhead is measured around."""

# Boundaries from strongest to weakest. A cut goes after a match's line breaks and before its spaces
# (see _cut_at); the slices always join back into the source.
_BOUNDARIES = (
    re.compile(r"\n[^\S\n]*\n\s*"),  # blank line(s): a paragraph ends (\r\n included: \r is blank space)
    re.compile(r"\n\s*"),  # a line ends
    re.compile(r"(?<=[.!?…])[\"'”’»)\]]*\s+|(?<=[。！？；])\s*|(?<=[؟۔।])\s*"),  # a sentence ends
    re.compile(r"(?<=[,;:])\s+|(?<=[，、،：])\s*"),  # a clause ends (not "https:" or "10:30")
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

    def split(
        self,
        text: str,
        *,
        title: str | None = None,
        render: Callable[[str], str] | None = None,
        where: str = "text",
    ) -> list[Chunk]:
        """The chunks of ``text``; ``[]`` for an empty or blank text.

        ``render`` turns a chunk into the string actually embedded when a framework adds to it (LlamaIndex
        puts metadata before a node's text); the chunk size holds for that string, prompt included.
        ``where`` names the text in errors (a splitter passes the caller's document: ``documents[3] (id
        ...)``); positions in errors are positions in ``text``.
        """
        if not isinstance(text, str):
            raise TypeError(f"{where} must be a string, got {type(text).__name__}.")
        check_unicode(text, where)
        if title is not None:
            check_unicode(title, f"the title of {where}")
        if not text.strip():
            return []
        template, show = self.template, render or (lambda body: body)

        def measure(bodies: Sequence[str]) -> list[int]:
            return self._tokenizer.count([apply_prompt(show(body), template, title) for body in bodies])

        start, end = _trimmed(text, 0, len(text))
        whole = measure([text[start:end]])[0]
        if whole <= self.chunk_size:
            return [Chunk(text[start:end], start, end, whole)]
        room = self.chunk_size - self._overhead(measure, title, where)
        splitter = _Splitter(text, self._tokenizer.count)
        return self._merge(splitter, splitter.pieces(room), room, measure)

    def split_document(
        self,
        text: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        index: int,
        id: str | None = None,  # noqa: A002 - the frameworks' own name
        render: Callable[[str], str] | None = None,
    ) -> list[Chunk]:
        """The chunks of one document of a framework's list: titled by ``metadata[title_key]`` (when a
        string), and named in errors by its ``index`` in the caller's list and its id or source."""
        metadata = metadata or {}
        title = metadata.get(self.settings.title_key)
        return self.split(
            text,
            title=title if isinstance(title, str) else None,
            render=render,
            where=document_name(index, id, metadata),
        )

    def _overhead(self, measure: Callable[[Sequence[str]], list[int]], title: str | None, where: str) -> int:
        """Tokens a chunk's embedded string holds besides its text: prompt, title, special tokens, and what
        ``render`` adds. Measured around a one-token probe: a framework may render an empty text unlike any
        other (LlamaIndex drops the blank line between metadata and an empty text)."""
        count = self._tokenizer.count
        bare = count([_PROBE])[0] - count([""])[0]
        overhead = measure([_PROBE])[0] - bare
        if self.chunk_size - overhead >= MIN_TEXT_TOKENS:
            return overhead
        prompt = count([apply_prompt(_PROBE, self.template, None)])[0] - bare
        with_title = count([apply_prompt(_PROBE, self.template, title)])[0] - bare
        parts = [f"the document prompt and special tokens take {prompt}"]
        fixes = ["raise chunk_size"]
        if with_title > prompt:
            parts.append(f"the title {with_title - prompt} more")
            fixes.append("shorten the title")
        if overhead > with_title:
            parts.append(f"the metadata text embedded with it {overhead - with_title}")
            fixes.append("leave metadata keys out of the embedded text (excluded_embed_metadata_keys)")
        raise ValueError(
            f"{where}: chunk_size={self.chunk_size} leaves {self.chunk_size - overhead} tokens for text, fewer than "
            f"{MIN_TEXT_TOKENS}: {', '.join(parts)} tokens. To fix it, {' or '.join(fixes)}."
        )

    # -- merging pieces into chunks -------------------------------------------------------------------
    def _merge(
        self, splitter: _Splitter, pieces: list[_Piece], room: int, measure: Callable[[Sequence[str]], list[int]]
    ) -> list[Chunk]:
        text = splitter.text
        chunks: list[Chunk] = []
        first, done = 0, 0  # done: pieces[:done] are in a chunk already
        while done < len(pieces):
            stop, total = self._window(pieces, first, room)
            if stop < len(pieces):
                if 2 * total < room:  # the next piece is too big to join: take part of it
                    stop = _fill(splitter, pieces, stop, total, room)
                else:
                    stop = _best_cut(pieces, first, stop, total)
            # Piece counts are estimates of the joined text (tokens can merge across a cut): check the
            # exact string and give back whole pieces until it fits.
            while True:
                start, end = _trimmed(text, pieces[first].start, pieces[stop - 1].end)
                body = text[start:end]
                tokens = measure([body])[0]
                if tokens <= self.chunk_size:
                    break
                if stop - first == 1:
                    # One piece over by a token or two: this text joins into more tokens than its pieces
                    # counted alone. Count with less room from here on, and cut the rest of its run again
                    # (never a sliver left over that would become a chunk of its own).
                    room = max(room - (tokens - self.chunk_size), 1)
                    end_of_run = _run_end(pieces, first)
                    pieces[first:end_of_run] = splitter.characters(_joined(pieces[first:end_of_run]), room)
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
    def _window(pieces: list[_Piece], first: int, room: int) -> tuple[int, int]:
        """The end (exclusive) of the longest run of pieces from ``first`` that fits ``room`` by the pieces'
        token estimates (at least one piece), and its tokens."""
        stop, total = first, 0
        while stop < len(pieces) and total + pieces[stop].tokens <= room:
            total += pieces[stop].tokens
            stop += 1
        if stop == first:
            return first + 1, pieces[first].tokens
        return stop, total

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


def document_name(index: int, id: str | None, metadata: Mapping[str, Any]) -> str:  # noqa: A002
    """``documents[3] (id 'a1', source 'notes/a.md')``: how an error names a framework's document."""
    known = [("id", id)] + [(key, metadata.get(key)) for key in _SOURCE_KEYS]
    named = [f"{key} {value!r}" for key, value in known if isinstance(value, str) and value]
    return f"documents[{index}]" + (f" ({', '.join(named[:2])})" if named else "")


def _run_end(pieces: list[_Piece], start: int) -> int:
    """The end (exclusive) of the run of pieces from ``start`` that were cut between characters: one stretch
    of text without boundaries (its last piece ends at the stretch's own boundary)."""
    end = start
    while end < len(pieces) - 1 and pieces[end].strength == _CHARACTERS:
        end += 1
    return end + 1


def _joined(run: list[_Piece]) -> _Piece:
    return _Piece(run[0].start, run[-1].end, run[-1].strength, sum(piece.tokens for piece in run))


def _fill(splitter: _Splitter, pieces: list[_Piece], stop: int, total: int, room: int) -> int:
    """Cut ``pieces[stop]`` so that its head joins the chunk that ends before it (``total`` tokens so far):
    at the strongest boundary inside it that makes the chunk at least half full, else between characters.
    Returns the chunk's new end."""
    end_of_run = _run_end(pieces, stop)
    piece = _joined(pieces[stop:end_of_run])
    space = room - total
    for level in range(_SENTENCE + 1, _CHARACTERS):
        spans = splitter.cut((piece.start, piece.end, piece.strength), level)
        if len(spans) == 1:
            continue
        counts = splitter.tokens([(a, b) for a, b, _ in spans])
        taken, used = 0, 0
        while taken < len(spans) - 1 and used + counts[taken] <= space:
            used += counts[taken]
            taken += 1
        if taken and 2 * (total + used) >= room:
            head = [_Piece(a, b, strength, n) for (a, b, strength), n in zip(spans[:taken], counts, strict=False)]
            rest = _Piece(spans[taken][0], piece.end, piece.strength, sum(counts[taken:]))
            pieces[stop:end_of_run] = [*head, *splitter.fit(rest, room, level)]
            return stop + taken
    head = splitter.characters(piece, space)[0]
    rest = _Piece(head.end, piece.end, piece.strength, splitter.tokens([(head.end, piece.end)])[0])
    pieces[stop:end_of_run] = [head, *splitter.fit(rest, room, _CHARACTERS)]
    return stop + 1


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
            spans = [cut for span in spans for cut in self.cut(span, level)]
        pieces: list[_Piece] = []
        for span, tokens in zip(spans, self.tokens([(a, b) for a, b, _ in spans]), strict=True):
            pieces.extend(self.fit(_Piece(*span, tokens), room, _SENTENCE + 1))
        return _glue_blank(pieces, self.text)

    def fit(self, piece: _Piece, room: int, level: int) -> list[_Piece]:
        if piece.tokens <= room:
            return [piece]
        if level == _CHARACTERS:
            return self.characters(piece, room)
        spans = self.cut((piece.start, piece.end, piece.strength), level)
        if len(spans) == 1:
            return self.fit(piece, room, level + 1)
        counts = self.tokens([(a, b) for a, b, _ in spans])
        return [
            part for span, n in zip(spans, counts, strict=True) for part in self.fit(_Piece(*span, n), room, level + 1)
        ]

    def cut(self, span: tuple[int, int, int], level: int) -> list[tuple[int, int, int]]:
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
