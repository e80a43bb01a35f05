"""SentencePiece's BPE encoding in compact tables: ``SentencePieceProcessor.encode``'s ids in ~13 MB.

A loaded ``SentencePieceProcessor`` of Gemma's 262,144 pieces holds ~46 MB (the parsed model: an object and
a string per piece, and a hash map over them). This module keeps the pieces as one UTF-8 blob with CRC-32
keys sorted for ``bisect``, and runs the algorithm of SentencePiece's ``bpe_model.cc`` on them:

1. the text, spaces written "▁", splits into characters, except that the longest user-defined piece starting
   at a position is taken whole (SentencePiece's prefix matcher);
2. the adjacent pair whose join is a piece with the highest score merges first, the leftmost of equal scores;
3. a symbol that is no piece becomes the byte pieces of its UTF-8 bytes (byte fallback).

Gemma's texts are encoded word by word, with a bounded memo of words. That gives the same ids because no
merge can cross a point where "▁" follows a character ``c`` that no piece has right before a "▁" (each
word's merges happen in the same order, by score and then position, as in the whole text).
"""

from __future__ import annotations

import heapq
import math
import re
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

SPACE = "\u2581"
MEMO_WORDS = 8192
MEMO_CHARS = 64
"""Up to ``MEMO_WORDS`` words of at most ``MEMO_CHARS`` characters keep their ids (about 1 MB at most); the memo
starts over when full. Longer words (a base64 line is one word) are encoded every time."""


class CompactBpe:
    """A SentencePiece BPE model with byte fallback, read-only once built (so thread-safe)."""

    def __init__(
        self,
        blob: bytes,
        offsets: array[int],
        scores: array[float],
        keyed: tuple[array[int], array[int]],
        user_defined: list[str],
        byte_ids: list[int],
        sticky: set[str],
    ) -> None:
        self._blob, self._offsets, self._scores = blob, offsets, scores
        self._keys, self._ids = keyed  # CRC-32 of each mergeable piece, ascending, and its id
        self._byte_ids = tuple(byte_ids)
        longest_first: dict[str, list[str]] = {}
        for piece in sorted(user_defined, key=len, reverse=True):
            longest_first.setdefault(piece[0], []).append(piece)
        self._user_defined = longest_first
        self._words = re.compile(f"(?<=[^{re.escape(SPACE + ''.join(sorted(sticky)))}])(?={SPACE})").split
        self._memo: dict[str, tuple[int, ...]] = {}

    @property
    def user_defined(self) -> list[str]:
        """The user-defined pieces (SentencePiece matches them whole in the text)."""
        return [piece for pieces in self._user_defined.values() for piece in pieces]

    @classmethod
    def from_processor(cls, sp: Any) -> CompactBpe | str:
        """The tables of a loaded ``SentencePieceProcessor``, or why this module cannot reproduce it.

        The pieces are read a few thousand at a time into flat arrays: a list of 262,144 strings, even
        briefly, would leave ~5 MB of fragmented heap and add ~80 MB to the peak.
        """
        import numpy as np

        every = list(range(sp.get_piece_size()))
        if any(sp.is_unused(every)):
            return "it has unused pieces (a case SentencePiece resegments)"
        scores = array("f", sp.get_score(every))
        is_byte = sp.is_byte(every)
        flags = zip(is_byte, sp.is_control(every), sp.is_unknown(every), strict=True)
        special = [any(of_piece) for of_piece in flags]  # never merged: byte, control and unknown pieces
        blob, offsets, keys = bytearray(), array("i", [0]), array("I")
        user_defined: list[str] = []
        byte_ids = [-1] * 256
        sticky: set[str] = set()
        for i, piece in _pieces(sp, len(every)):
            encoded = piece.encode("utf-8")
            blob += encoded
            offsets.append(len(blob))
            keys.append(zlib.crc32(encoded))
            if special[i]:
                if is_byte[i]:
                    byte_ids[int(piece[3:5], 16)] = i
                continue
            # A user-defined piece scores +0.0; the first ordinary BPE piece scores -0.0.
            if scores[i] == 0.0 and math.copysign(1.0, scores[i]) > 0:
                user_defined.append(piece)
            if SPACE in piece[1:]:
                sticky.update(piece[k - 1] for k in range(1, len(piece)) if piece[k] == SPACE != piece[k - 1])
        if -1 in byte_ids:
            return "it lacks some of the 256 byte pieces of byte fallback"
        ids = np.flatnonzero(~np.array(special)).astype(np.int32)
        crc = np.frombuffer(keys, dtype=np.uint32)[ids]
        order = np.argsort(crc, kind="stable")
        keyed = (array("I", crc[order].tobytes()), array("i", ids[order].tobytes()))
        return cls(bytes(blob), offsets, scores, keyed, user_defined, byte_ids, sticky)

    def encode(self, text: str) -> list[int]:
        """The ids SentencePiece gives ``text`` (no added tokens in it: the caller cut those out)."""
        memo = self._memo
        ids: list[int] = []
        for word in self._words(text.replace(" ", SPACE)):
            if len(word) > MEMO_CHARS:
                ids.extend(self._encode_word(word))
                continue
            found = memo.get(word)
            if found is None:
                if len(memo) >= MEMO_WORDS:
                    memo.clear()
                found = memo[word] = tuple(self._encode_word(word))
            ids.extend(found)
        return ids

    def _id(self, piece: str) -> int:
        """The id of a mergeable piece, or -1."""
        encoded = piece.encode("utf-8")
        key = zlib.crc32(encoded)
        keys, ids, blob, offsets = self._keys, self._ids, self._blob, self._offsets
        at = bisect_left(keys, key)
        while at < len(keys) and keys[at] == key:
            i = ids[at]
            if blob[offsets[i] : offsets[i + 1]] == encoded:
                return i
            at += 1
        return -1

    def _symbols(self, word: str) -> list[str]:
        symbols, at, user_defined = [], 0, self._user_defined
        while at < len(word):
            for piece in user_defined.get(word[at], ()):
                if word.startswith(piece, at):
                    break
            else:
                piece = word[at]
            symbols.append(piece)
            at += len(piece)
        return symbols

    def _encode_word(self, word: str) -> list[int]:
        symbols = self._symbols(word)
        if not symbols:
            return []
        n = len(symbols)
        before, after = list(range(-1, n - 1)), list(range(1, n + 1))
        after[-1] = -1
        lookup, scores = self._id, self._scores
        agenda: list[tuple[float, int, int, int]] = []  # (-score, left, right, joined length)

        def consider(left: int, right: int) -> None:
            joined = symbols[left] + symbols[right]
            i = lookup(joined)
            if i >= 0:
                heapq.heappush(agenda, (-scores[i], left, right, len(joined)))

        for left in range(n - 1):
            consider(left, left + 1)
        while agenda:
            _, left, right, length = heapq.heappop(agenda)
            a, b = symbols[left], symbols[right]
            if not a or not b or len(a) + len(b) != length:  # one side merged since: stale
                continue
            symbols[left], symbols[right] = a + b, ""
            following = after[left] = after[right]
            if following >= 0:
                before[following] = left
                consider(left, following)
            if before[left] >= 0:
                consider(before[left], left)
        ids: list[int] = []
        at = 0
        while at >= 0:
            i = lookup(symbols[at])
            if i >= 0:
                ids.append(i)
            else:
                ids.extend(self._byte_ids[byte] for byte in symbols[at].encode("utf-8"))
            at = after[at]
        return ids


def _pieces(sp: Any, size: int, chunk: int = 4096) -> Iterator[tuple[int, str]]:
    """(id, piece) of every piece, read ``chunk`` at a time (SentencePiece's batched call is ~10x faster)."""
    for at in range(0, size, chunk):
        yield from enumerate(sp.id_to_piece(list(range(at, min(at + chunk, size)))), at)
