"""A light tokenizer for the torch-free runtimes, id for id the model's Hugging Face tokenizer.

``transformers.AutoTokenizer`` on EmbeddingGemma gives ``<bos> text <eos>``, with ``tokenizers``
running ``tokenizer.json`` (33 MB: 262,144 pieces, 514,906 merges). Loading that costs ~290 MB of RSS
(~370 MB at peak) and ~1.5 s. SentencePiece reads the 4.7 MB ``tokenizer.model`` and this module copies its
pieces into compact tables (``_bpe``: ~13 MB, where the loaded ``SentencePieceProcessor`` holds ~46 MB) in
~0.4 s; its BPE run on those tables gives the same ids once this module does what ``tokenizers`` does around
the model:

* added tokens (``<bos>``, ``<start_of_turn>``, ``<image_soft_token>``, ``\\n`` and ``\\t`` runs,
  ``<b>``, ``<unused0>``, ...: 6,415 of them) are cut out of the raw text first, leftmost-longest,
  under their ``tokenizer.json`` ids; SentencePiece alone would spell ``<bos>`` out and has no
  ``<image_soft_token>``;
* the template's ``<bos>``/``<eos>`` go around the text, and truncation cuts only the text.

The rest is the same algorithm on the same data, which loading checks: ``tokenizer.json``'s
normaliser only turns " " into "▁" (SentencePiece's "identity" normalisation, no dummy prefix, no
whitespace removal); both are BPE with byte fallback; its merges are SentencePiece's pieces in
score order (the rule the Hugging Face converter wrote them by), and the one score tie that could
matter (runs of "▁", scored 0 like every user-defined piece) resolves the same way: the whitespace
merges come first, so a run of spaces becomes the longest ``▁▁...`` pieces from the left in both.

A folder without ``tokenizer.model``, or with a tokenizer this emulation does not cover, runs
``tokenizers`` on ``tokenizer.json`` (what ``AutoTokenizer`` runs), with its freed load-time heap
handed back to the system.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._bpe import CompactBpe
from ._errors import ModelLoadError

TOKENIZER_MODEL = "tokenizer.model"
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
ADDED_TOKENS = "added_tokens.json"
IMPLEMENTATIONS = ("auto", "sentencepiece", "tokenizers")
"""Which library tokenizes (``auto``: SentencePiece where it reproduces ``AutoTokenizer``, else ``tokenizers``)."""

_REDOWNLOAD = "re-download the model folder (e.g. `hf download google/embeddinggemma-300m --local-dir DIR`)"
_PROBE = " a  ﬁ Ａ\u3000b ①\u00a0é\u0301\t "
"""Text that SentencePiece keeps as is only without normalisation, dummy prefix or whitespace removal."""
_NORMALIZER = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
_PRE_TOKENIZERS = (
    None,
    {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
)
"""No pre-tokenizer, or Gemma's split on " ", which finds none once the normaliser has replaced them."""


class Tokenizer:
    """Token ids of a model folder exactly as ``AutoTokenizer.from_pretrained(folder)`` gives them.

    ``implementation`` says which library runs: ``"sentencepiece"`` (``tokenizer.model``, light) or
    ``"tokenizers"`` (``tokenizer.json``); ``implementation=`` at construction forces one. Thread-safe:
    nothing changes after loading.
    """

    implementation: str
    folder: Path

    def __init__(self, folder: str | os.PathLike[str], *, implementation: str = "auto") -> None:
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation={implementation!r} must be one of {IMPLEMENTATIONS}.")
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ModelLoadError(
                f"tokenizer folder {str(self.folder)!r} does not exist or is not a folder. Pass the model's "
                f"local folder (the one with {TOKENIZER_MODEL} or {TOKENIZER_JSON})."
            )
        self.fallback_reason: str | None = None  # why SentencePiece does not run (None when it does)
        if implementation != "tokenizers":
            self.fallback_reason = self._load_sentencepiece()
            if self.fallback_reason is None:
                self.implementation = "sentencepiece"
                return
            if implementation == "sentencepiece":
                raise ModelLoadError(
                    f"{str(self.folder)!r}: cannot tokenize with SentencePiece: {self.fallback_reason}."
                )
        else:
            self.fallback_reason = "implementation='tokenizers' was asked for"
        self._load_tokenizers()
        self.implementation = "tokenizers"

    # -- loading ---------------------------------------------------------------------------------

    def _load_sentencepiece(self) -> str | None:
        """Set up the SentencePiece path; return why it cannot reproduce ``AutoTokenizer``, or None."""
        model_file = self.folder / TOKENIZER_MODEL
        if not model_file.is_file():
            return f"there is no {TOKENIZER_MODEL}"
        try:
            import sentencepiece
        except ImportError:
            return "the sentencepiece package is not installed (pip install sentencepiece)"
        json_file = self.folder / TOKENIZER_JSON
        spec = _spec_from_tokenizer_json(json_file) if json_file.is_file() else _spec_from_config(self.folder)
        if isinstance(spec, str):
            return spec
        added, prefix, suffix = spec
        try:
            sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        except Exception as exc:  # a truncated or foreign file
            raise ModelLoadError(
                f"SentencePiece could not load {str(model_file)!r}: {exc}. The file is damaged or cut short: "
                f"{_REDOWNLOAD}."
            ) from exc
        bpe = CompactBpe.from_processor(sp)
        if isinstance(bpe, str):
            return f"{TOKENIZER_MODEL}: {bpe}"
        problem = _mismatch(sp, added, bpe.user_defined)
        if problem:
            return problem
        del sp  # its parsed model is ~46 MB; the compact tables ~13
        _trim_heap()
        self._bpe = bpe
        self._added = added
        self._split = re.compile(f"({_trie_pattern(added)})").split
        self._prefix, self._suffix = prefix, suffix
        return None

    def _load_tokenizers(self) -> None:
        tokenizer_file = self.folder / TOKENIZER_JSON
        if not tokenizer_file.is_file():
            if (self.folder / TOKENIZER_MODEL).is_file():
                what = f"has no {TOKENIZER_JSON}, and its {TOKENIZER_MODEL} cannot serve alone ({self.fallback_reason})"
            else:
                what = f"has neither {TOKENIZER_MODEL} nor {TOKENIZER_JSON}"
            raise ModelLoadError(
                f"{str(self.folder)!r} {what}. The CPU runtimes tokenize with {TOKENIZER_MODEL} (beside "
                f"{TOKENIZER_JSON} or {TOKENIZER_CONFIG}) or with {TOKENIZER_JSON}: {_REDOWNLOAD}, or copy "
                f"those files from it."
            )
        try:
            from tokenizers import Tokenizer as FastTokenizer
        except ImportError as exc:
            raise ModelLoadError(
                f"{str(self.folder)!r}: SentencePiece cannot be used ({self.fallback_reason}), and the tokenizers "
                f"package that reads {TOKENIZER_JSON} is not installed: pip install tokenizers"
            ) from exc
        try:
            fast = FastTokenizer.from_file(str(tokenizer_file))
        except Exception as exc:
            raise ModelLoadError(
                f"tokenizers could not load {str(tokenizer_file)!r}: {exc}. The file is damaged or cut short: "
                f"{_REDOWNLOAD}."
            ) from exc
        fast.no_truncation()
        fast.no_padding()
        self._fast = fast
        self._n_special = fast.num_special_tokens_to_add(False)
        _trim_heap()  # the JSON parse leaves ~190 MB (Gemma) of freed heap that glibc would keep

    # -- tokenizing ------------------------------------------------------------------------------

    def count(self, texts: Sequence[str]) -> list[int]:
        """Token counts with <bos>/<eos>, uncut: ``len(AutoTokenizer(text)["input_ids"])`` for each text."""
        texts = _check(texts)
        if self.implementation == "tokenizers":
            return [len(e) for e in _guard(self._fast.encode_batch, texts, add_special_tokens=True)]
        extra = len(self._prefix) + len(self._suffix)
        return [len(body) + extra for body in _guard(self._bodies, texts)]

    def encode(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """Ids with <bos>/<eos>, cut to ``max_length`` tokens as ``AutoTokenizer(..., truncation=True)`` cuts.

        The text is cut; <bos> and the final <eos> stay. As in ``tokenizers`` (0.23), a ``max_length``
        below the 2 special tokens cuts nothing: its unsigned ``max_length - 2`` wraps around.
        """
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length={max_length!r} must be a positive integer (tokens).")
        texts = _check(texts)
        if self.implementation == "tokenizers":
            return self._encode_tokenizers(texts, max_length)
        prefix, suffix = self._prefix, self._suffix
        room = max_length - len(prefix) - len(suffix)
        keep = room if room >= 0 else None
        return [prefix + body[:keep] + suffix for body in _guard(self._bodies, texts)]

    def _encode_tokenizers(self, texts: list[str], max_length: int) -> list[list[int]]:
        fast = self._fast
        keep = max_length - self._n_special
        out = []
        for encoding in _guard(fast.encode_batch, texts, add_special_tokens=False):
            if 0 <= keep < len(encoding):
                encoding.truncate(keep)
            out.append(fast.post_process(encoding).ids)
        return out

    def _bodies(self, texts: list[str]) -> list[list[int]]:
        """Ids without <bos>/<eos>: added tokens cut out of the raw text, SentencePiece on the rest."""
        split, added = self._split, self._added
        segments: list[str] = []
        plans: list[int | list[int]] = []  # per text: its one segment, or steps (segment >= 0, ~token id < 0)
        for text in texts:
            parts = split(text)
            if len(parts) == 1:
                plans.append(len(segments))
                segments.append(text)
                continue
            plan = []
            for i, part in enumerate(parts):
                if i % 2:
                    plan.append(~added[part])
                elif part:
                    plan.append(len(segments))
                    segments.append(part)
            plans.append(plan)
        encode = self._bpe.encode
        encoded = [encode(segment) for segment in segments]
        bodies = []
        for plan in plans:
            if isinstance(plan, int):
                bodies.append(encoded[plan])
                continue
            ids: list[int] = []
            for step in plan:
                if step >= 0:
                    ids.extend(encoded[step])
                else:
                    ids.append(~step)
            bodies.append(ids)
        return bodies


_loaded: dict[Path, Tokenizer] = {}
_loaded_lock = threading.Lock()
TOKENIZER_FILES = [TOKENIZER_MODEL, TOKENIZER_JSON, TOKENIZER_CONFIG, ADDED_TOKENS, "special_tokens_map.json"]
"""What a tokenizer needs from a model folder (fetched alone for a hub id: no weights)."""


def load_tokenizer(model: str | os.PathLike[str]) -> Tokenizer:
    """The tokenizer of a model folder or hub id, loaded once per process and shared (it is read-only).

    For a hub id only the tokenizer files are downloaded, so counting tokens (the splitters, the
    server backends) never fetches or loads the weights.
    """
    folder = Path(model).expanduser()
    if not folder.is_dir():
        if str(model).lower().endswith(".gguf") or folder.exists():
            raise ModelLoadError(
                f"{str(model)!r} is not a model folder: pass the folder (or hub id) of the model's tokenizer, "
                "e.g. tokenizer='google/embeddinggemma-300m'."
            )
        folder = _fetch_tokenizer(str(model))
    folder = folder.resolve()
    with _loaded_lock:
        if folder not in _loaded:
            _loaded[folder] = Tokenizer(folder)
        return _loaded[folder]


def _fetch_tokenizer(repo_id: str) -> Path:
    from ._model_files import GATED_HINT

    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=TOKENIZER_FILES))
    except Exception as exc:  # gated, offline, unknown id: one actionable error
        raise ModelLoadError(f"could not fetch the tokenizer of {repo_id!r}: {exc}\n{GATED_HINT}") from exc


# -- what AutoTokenizer does around the model ---------------------------------------------------------

Spec = tuple[dict[str, int], list[int], list[int]]
"""Added tokens ``{content: id}``, and the ids the template puts before and after the text."""


def _spec_from_tokenizer_json(path: Path) -> Spec | str:
    """The added tokens and template of ``tokenizer.json``, read without its vocabulary and merges."""
    head = _json_head(path)
    if head is None:
        return f"{TOKENIZER_JSON} is not readable JSON"
    if head.get("normalizer") != _NORMALIZER:
        return f"{TOKENIZER_JSON} has the normalizer {head.get('normalizer')!r}, not Gemma's"
    if head.get("pre_tokenizer") not in _PRE_TOKENIZERS:
        return f"{TOKENIZER_JSON} has the pre-tokenizer {head.get('pre_tokenizer')!r}, not Gemma's"
    model = head.get("model") or {}
    if (
        model.get("type") != "BPE"
        or model.get("byte_fallback") is not True
        or model.get("ignore_merges")
        or model.get("dropout") is not None
        or model.get("continuing_subword_prefix")
        or model.get("end_of_word_suffix")
    ):
        return f"{TOKENIZER_JSON}'s model is not BPE with byte fallback as Gemma's: {model!r}"
    added: dict[str, int] = {}
    for entry in head.get("added_tokens") or []:
        problem = _added_token(entry, entry.get("id") if isinstance(entry, dict) else None, TOKENIZER_JSON)
        if problem:
            return problem
        added[entry["content"]] = entry["id"]
    if not added:
        return f"{TOKENIZER_JSON} lists no added tokens"
    processor = head.get("post_processor")
    if processor is None:
        return added, [], []
    if not isinstance(processor, dict) or processor.get("type") != "TemplateProcessing":
        return f"{TOKENIZER_JSON} has the post-processor {processor!r}, not a template"
    sides: tuple[list[int], list[int]] = ([], [])
    sequences = 0
    try:
        for item in processor["single"]:
            if "Sequence" in item:
                sequences += 1
                continue
            sides[sequences].extend(processor["special_tokens"][item["SpecialToken"]["id"]]["ids"])
    except (KeyError, TypeError, IndexError):
        return f"{TOKENIZER_JSON} has a template other than [special...] $A [special...]: {processor!r}"
    if sequences != 1:
        return f"{TOKENIZER_JSON} has a template other than [special...] $A [special...]: {processor!r}"
    return added, sides[0], sides[1]


def _spec_from_config(folder: Path) -> Spec | str:
    """Without ``tokenizer.json``: the added tokens and flags of ``tokenizer_config.json`` (transformers 4)."""
    config = _read_json(folder / TOKENIZER_CONFIG)
    if not isinstance(config, dict):
        return f"{TOKENIZER_CONFIG}, which lists the added tokens, is missing or not JSON"
    if not str(config.get("tokenizer_class", "")).startswith("Gemma"):
        return f"{TOKENIZER_CONFIG} names tokenizer_class={config.get('tokenizer_class')!r}, not Gemma's"
    entries = config.get("added_tokens_decoder")
    if not isinstance(entries, dict) or not entries:
        return f"{TOKENIZER_CONFIG} lists no added_tokens_decoder"
    added: dict[str, int] = {}
    for key, entry in entries.items():
        problem = _added_token(entry, int(key) if str(key).isdigit() else None, TOKENIZER_CONFIG)
        if problem:
            return problem
        added[entry["content"]] = int(key)
    extra = _read_json(folder / ADDED_TOKENS)
    if isinstance(extra, dict):
        for content, token_id in extra.items():
            if not isinstance(token_id, int) or added.setdefault(content, token_id) != token_id:
                return f"{ADDED_TOKENS} and {TOKENIZER_CONFIG} disagree on {content!r}"
    sides: tuple[list[int], list[int]] = ([], [])
    flags = (("add_bos_token", True, "bos_token", 0), ("add_eos_token", False, "eos_token", 1))
    for flag, default, name, side in flags:
        if config.get(flag, default):
            token = config.get(name)
            token = token.get("content") if isinstance(token, dict) else token
            if token not in added:
                return f"{TOKENIZER_CONFIG} sets {flag}, but its {name} {token!r} is not an added token"
            sides[side].append(added[token])
    return added, sides[0], sides[1]


def _added_token(entry: Any, token_id: Any, source: str) -> str | None:
    """Why ``entry`` is an added token this module cannot match as ``tokenizers`` does, or None."""
    content = entry.get("content") if isinstance(entry, dict) else None
    if not isinstance(content, str) or not content or not isinstance(token_id, int) or token_id < 0:
        return f"{source} has a malformed added token {entry!r}"
    if any(entry.get(flag) for flag in ("lstrip", "rstrip", "single_word", "normalized")):
        return f"{source}: the added token {content!r} strips spaces, is single-word or is normalised"
    return None


def _mismatch(sp: Any, added: dict[str, int], user_defined: Sequence[str]) -> str | None:
    """Why the SentencePiece model is not the one the added tokens and Gemma's pipeline expect, or None."""
    size = sp.get_piece_size()
    for content, token_id in added.items():
        if token_id < size and sp.id_to_piece(token_id) != content:
            return f"the added token {content!r} has id {token_id}, {sp.id_to_piece(token_id)!r} in {TOKENIZER_MODEL}"
        if token_id >= size and sp.piece_to_id(content) != sp.unk_id():
            return f"the added token {content!r} (id {token_id}) is also a piece of {TOKENIZER_MODEL}"
    # SentencePiece matches its user-defined pieces in the text as tokenizers matches added tokens, so
    # each must be one.
    for piece in user_defined:
        if piece not in added:
            return f"the user-defined piece {piece!r} of {TOKENIZER_MODEL} is not an added token"
    spelled = bytearray()
    for i in sp.encode(_PROBE, out_type=int):
        piece = sp.id_to_piece(i)
        spelled += bytes([int(piece[3:5], 16)]) if sp.is_byte(i) else piece.encode("utf-8")
    if spelled.decode("utf-8", errors="replace") != _PROBE.replace(" ", "\u2581"):
        return f"{TOKENIZER_MODEL} normalises text, adds a dummy prefix or removes spaces"
    return None


# -- helpers -----------------------------------------------------------------------------------------


def _check(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string: pass [text].")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not str.")
    return texts


def _guard(tokenize: Any, texts: list[str], **kwargs: Any) -> Any:
    """``tokenize(texts)``; a text that is not valid Unicode is named instead of the library's error."""
    try:
        return tokenize(texts, **kwargs)
    except Exception:
        for i, text in enumerate(texts):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"texts[{i}] is not valid Unicode: it holds the lone surrogate {text[exc.start]!r} at "
                    f"character {exc.start}. Decode its source with errors='replace', or drop the character."
                ) from None
        raise


def _trie_pattern(words: Any) -> str:
    """A regex matching any of ``words``, leftmost-longest (as ``tokenizers``' added-token matcher).

    At each trie node the longer continuations are tried before stopping there, and siblings start
    with different characters, so a match costs at most the longest word's length in steps.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def walk(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + walk(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        if len(branches) == 1 and "" not in node:
            return branches[0]
        return "(?:" + "|".join(branches) + ("|)" if "" in node else ")")

    return walk(trie)


_SPACE = re.compile(r"[ \t\n\r]*")


def _json_head(path: Path) -> dict[str, Any] | None:
    """The top-level entries of ``tokenizer.json`` before ``model``, and ``model``'s before ``vocab``.

    ``tokenizers`` writes ``added_tokens``, ``normalizer``, ``pre_tokenizer`` and ``post_processor``
    first (1.2 MB of Gemma's 33 MB), so the vocabulary and merges are never read.
    """
    decode = json.JSONDecoder().raw_decode
    size = 1 << 21
    with open(path, encoding="utf-8") as f:
        text = f.read(size)
        while True:
            try:
                return _parse_head(text, decode)
            except (ValueError, IndexError):
                more = f.read(size)
                if not more:
                    return None
                text += more
                size *= 2


def _parse_head(text: str, decode: Any) -> dict[str, Any]:
    def skip(pos: int) -> int:
        return _SPACE.match(text, pos).end()  # type: ignore[union-attr]

    def members(pos: int, stop: str, into: dict[str, Any]) -> int:
        """Read ``"key": value`` pairs of the object opening at ``pos`` until ``stop`` (or its end)."""
        pos = skip(pos)
        if text[pos] != "{":
            raise ValueError("not an object")
        pos = skip(pos + 1)
        while text[pos] != "}":
            key, pos = decode(text, pos)
            pos = skip(pos)
            if text[pos] != ":":
                raise ValueError("no colon")
            pos = skip(pos + 1)
            if key == stop:
                return pos
            into[key], pos = decode(text, pos)
            pos = skip(pos)
            if text[pos] == ",":
                pos = skip(pos + 1)
        raise ValueError(f"no {stop!r}")

    head: dict[str, Any] = {}
    pos = members(0, "model", head)
    head["model"] = {}
    members(pos, "vocab", head["model"])
    return head


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _trim_heap() -> None:
    """Give freed heap back to the system (glibc only; elsewhere nothing happens)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:
        pass
