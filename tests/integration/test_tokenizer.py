"""The light tokenizer (``embeddinggemma._tokenizer``): id for id what ``AutoTokenizer`` gives, torch-free.

Two models here: the tiny test model (a byte-level BPE ``tokenizer.json`` only: the ``tokenizers`` fallback),
and a small SentencePiece model trained here with Gemma's settings and converted the way Gemma's
``tokenizer.json`` was (the SentencePiece path without the real weights). The real one (SentencePiece on
``tokenizer.model``) is checked in ``tests/real_model/test_tokenizer_real.py``.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from _support.tokenizer_checks import (
    LENGTHS,
    PROMPT_PREFIXES,
    UNCUT,
    assert_same,
    fuzz_texts,
    hard_texts,
    light,
    reference,
    run_blocked,
    short,
)

from embeddinggemma import ModelLoadError
from embeddinggemma._tokenizer import Tokenizer

# -- the tiny model (tokenizer.json only: the tokenizers fallback) -----------------------------------


def test_tiny_model_falls_back_to_tokenizers_with_the_same_ids(tiny_model):
    tok = light(tiny_model)
    assert tok.implementation == "tokenizers"
    assert "tokenizer.model" in tok.fallback_reason
    texts = hard_texts() + fuzz_texts(1000)
    assert_same(tok, tiny_model, texts, what="tiny")
    assert_same(tok, tiny_model, [PROMPT_PREFIXES[0] + text for text in texts], what="tiny prompted", count=False)
    for n in LENGTHS:
        assert_same(tok, tiny_model, short(hard_texts()) + fuzz_texts(100, seed=4), n, what="tiny truncation")


def test_the_sentencepiece_implementation_needs_tokenizer_model(tiny_model):
    with pytest.raises(ModelLoadError, match="no tokenizer.model"):
        Tokenizer(tiny_model, implementation="sentencepiece")


# -- a SentencePiece model trained here with Gemma's settings ----------------------------------------

GEMMA_LIKE_USER_PIECES = ["<mask>", "[multimodal]", "<unused0>", "<start_of_turn>", "<end_of_turn>"]
GEMMA_LIKE_USER_PIECES += ["\n" * k for k in range(1, 6)] + ["\u2581" * k for k in range(2, 7)]
GEMMA_LIKE_USER_PIECES += ["\t" * k for k in range(1, 4)] + ["<b>", "</b>", "<table>", "</table>"]


@pytest.fixture(scope="module")
def gemma_like(tmp_path_factory) -> str:
    """tokenizer.model trained as Gemma's was, and the tokenizer.json that Hugging Face's rule makes of it."""
    sentencepiece = pytest.importorskip("sentencepiece")
    transformers = pytest.importorskip("transformers")
    convert = pytest.importorskip("transformers.convert_slow_tokenizer")
    corpus = [
        "the quick brown fox jumps over the lazy dog, which planet is known as the red planet",
        "mars venus jupiter saturn earth planets solar system 1,650 0.11 percent",
        "def f(x):\n    return x  +  1\n\n\tpass",
        "日本語のテキスト 中文文本 한국어 ภาษาไทย مرحبا שלום",
    ] * 40
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        model_type="bpe",
        vocab_size=480,
        byte_fallback=True,
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        split_by_whitespace=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=GEMMA_LIKE_USER_PIECES,
        minloglevel=2,
    )
    sp = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    merges = convert.generate_merges(vocab, {piece: sp.get_score(i) for i, piece in enumerate(pieces)})
    hf = transformers.GemmaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=True)
    hf.add_tokens([transformers.AddedToken(p, normalized=False, special=False) for p in GEMMA_LIKE_USER_PIECES])
    extra = transformers.AddedToken("<image_soft_token>", normalized=False, special=True)  # beyond the SP vocabulary
    hf.add_special_tokens({"additional_special_tokens": [extra]})
    folder = tmp_path_factory.mktemp("gemma-like-tokenizer")
    hf.save_pretrained(folder)
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    assert reference(str(folder))(["<bos>x"])["input_ids"] == [[2, 2, vocab["x"], 1]]
    return str(folder)


def test_gemma_like_model_runs_sentencepiece_with_the_same_ids(gemma_like):
    tok = light(gemma_like)
    assert tok.implementation == "sentencepiece", tok.fallback_reason
    assert tok._added["<image_soft_token>"] == 480
    texts = hard_texts() + fuzz_texts(3000, seed=3)
    assert_same(tok, gemma_like, texts, what="gemma-like")
    assert_same(tok, gemma_like, [PROMPT_PREFIXES[1] + text for text in texts], what="gemma-like prompted", count=False)
    for n in LENGTHS:
        assert_same(tok, gemma_like, short(hard_texts()) + fuzz_texts(300, seed=4), n, what="gemma-like truncation")


def test_the_memo_of_words_stays_bounded_and_changes_no_id(gemma_like):
    """The compact BPE remembers short words only, and at most MEMO_WORDS of them: a stream of distinct words
    or one long base64 line does not grow it without bound, and ids from the memo equal fresh ones."""
    import base64
    import random

    from embeddinggemma import _bpe

    tok = Tokenizer(gemma_like)  # a tokenizer of its own: its memo starts empty
    rnd = random.Random(5)
    words = [" ".join(f"w{rnd.randrange(10**9)}" for _ in range(50)) for _ in range(_bpe.MEMO_WORDS // 25)]
    long_line = base64.b64encode(rnd.randbytes(30_000)).decode()
    first = tok.encode([*words, long_line], UNCUT)
    memo = tok._bpe._memo
    assert 0 < len(memo) <= _bpe.MEMO_WORDS and max(map(len, memo)) <= _bpe.MEMO_CHARS
    assert tok.encode([*words, long_line], UNCUT) == first  # the second time, short words come from the memo
    assert_same(tok, gemma_like, [*words[:20], long_line], what="memo")


def test_works_with_torch_and_transformers_blocked(tiny_model, gemma_like):
    texts = ["<bos>hello  world\n\n", "the red planet ﬁ 😀", ""]
    out = run_blocked(f"""
        import json, sys
        from embeddinggemma._tokenizer import Tokenizer
        result = {{}}
        for folder in ({tiny_model!r}, {gemma_like!r}):
            tok = Tokenizer(folder)
            result[folder] = [tok.implementation, tok.encode({texts!r}, 4), tok.count({texts!r})]
        assert sys.modules['torch'] is None and sys.modules['transformers'] is None
        print(json.dumps(result))
    """)
    result = json.loads(out)
    for folder, implementation in ((tiny_model, "tokenizers"), (gemma_like, "sentencepiece")):
        hf = reference(folder)
        expected = [hf(texts, truncation=True, max_length=4)["input_ids"], [len(i) for i in hf(texts)["input_ids"]]]
        assert result[folder] == [implementation, *expected]


# -- errors -------------------------------------------------------------------------------------------


def test_tokenizer_model_alone_names_the_missing_files(tmp_path, gemma_like):
    shutil.copy(Path(gemma_like) / "tokenizer.model", tmp_path)
    with pytest.raises(ModelLoadError) as caught:
        Tokenizer(tmp_path)
    assert "no tokenizer.json" in str(caught.value)
    assert "tokenizer_config.json" in str(caught.value)


def test_tokenizer_model_with_config_only_is_enough(tmp_path, gemma_like):
    """Without tokenizer.json, tokenizer_config.json's added tokens and flags serve (as transformers 4 saved)."""
    shutil.copy(Path(gemma_like) / "tokenizer.model", tmp_path)
    with open(Path(gemma_like) / "tokenizer.json", encoding="utf-8") as f:
        added = json.load(f)["added_tokens"]
    config = {
        "tokenizer_class": "GemmaTokenizer",
        "add_bos_token": True,
        "add_eos_token": True,
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "added_tokens_decoder": {str(t.pop("id")): t for t in added},
    }
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    tok = Tokenizer(tmp_path)
    assert tok.implementation == "sentencepiece", tok.fallback_reason
    texts = hard_texts()
    assert tok.encode(texts, 64) == light(gemma_like).encode(texts, 64)


def test_damaged_tokenizer_model_is_named(tmp_path, gemma_like):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(Path(gemma_like) / name, tmp_path)
    (tmp_path / "tokenizer.model").write_bytes((Path(gemma_like) / "tokenizer.model").read_bytes()[:200])
    with pytest.raises(ModelLoadError, match=r"tokenizer\.model.*re-download"):
        Tokenizer(tmp_path)


def test_damaged_tokenizer_json_is_named(tmp_path, tiny_model):
    (tmp_path / "tokenizer.json").write_bytes((Path(tiny_model) / "tokenizer.json").read_bytes()[:300])
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json.*re-download"):
        Tokenizer(tmp_path)


def test_bad_arguments(tiny_model):
    tok = light(tiny_model)
    with pytest.raises(ValueError, match="implementation"):
        Tokenizer(tiny_model, implementation="fast")
    for bad in (0, -1, 2.0, True, None):
        with pytest.raises(ValueError, match="max_length"):
            tok.encode(["x"], bad)
    with pytest.raises(TypeError, match="not one string"):
        tok.count("x")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        tok.encode(["x", b"y"], 8)
    assert tok.encode([], 8) == [] and tok.count(()) == []


@pytest.mark.parametrize("which", ["tiny", "gemma_like"])
def test_lone_surrogate_is_named(which, request):
    tok = light(request.getfixturevalue("tiny_model" if which == "tiny" else "gemma_like"))
    with pytest.raises(ValueError, match=r"texts\[1\] is not valid Unicode.*character 2"):
        tok.encode(["fine", "ab\ud800c"], 8)
