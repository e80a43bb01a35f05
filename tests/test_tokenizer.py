"""The light tokenizer (``embeddinggemma._tokenizer``): id for id what ``AutoTokenizer`` gives, torch-free.

Three models: the real one (``@pytest.mark.real_model``: SentencePiece on ``tokenizer.model``), the
tiny test model (a byte-level BPE ``tokenizer.json`` only: the ``tokenizers`` fallback), and a small
SentencePiece model trained here with Gemma's settings and converted the way Gemma's
``tokenizer.json`` was (the SentencePiece path without the real weights).
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import random
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from embeddinggemma import ModelLoadError
from embeddinggemma._tokenizer import Tokenizer

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
SRC = Path(__file__).resolve().parents[1] / "src"
PROMPTS = ("task: search result | query: ", "title: none | text: ", "task: sentence similarity | query: ")
LENGTHS = (1, 2, 3, 4, 5, 8, 16, 64, 512, 2048)
UNCUT = 1 << 30


# -- reference and helpers ----------------------------------------------------------------------------


@functools.cache
def reference(folder: str):
    """``AutoTokenizer.from_pretrained(folder)``: the tokenizer the ids must equal."""
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(folder)


@functools.cache
def light(folder: str, implementation: str = "auto") -> Tokenizer:
    return Tokenizer(folder, implementation=implementation)


def assert_same(
    tok: Tokenizer, folder: str, texts: list[str], max_length: int | None = None, what: str = "", count: bool = True
) -> None:
    """``tok`` gives ``AutoTokenizer``'s ids (and counts), uncut or under ``truncation=True, max_length``."""
    hf = reference(folder)
    if max_length is None:
        expected = hf(texts)["input_ids"]
        got = tok.encode(texts, UNCUT)
        if count:
            assert tok.count(texts) == [len(ids) for ids in expected], what
    else:
        expected = hf(texts, truncation=True, max_length=max_length)["input_ids"]
        got = tok.encode(texts, max_length)
    bad = [i for i, (e, g) in enumerate(zip(expected, got, strict=True)) if e != g]
    if bad:
        i = bad[0]
        pytest.fail(
            f"{what} max_length={max_length}: {len(bad)} of {len(texts)} texts differ; first {texts[i][:120]!r}\n"
            f"  AutoTokenizer {expected[i][:40]}\n  ours          {got[i][:40]}"
        )


def hard_texts() -> list[str]:
    """Texts where a tokenizer reimplementation usually slips."""
    rnd = random.Random(7)
    words = "the of planet Mars red 1,650 0.11 percent naïve café — «quoted» (x) [y] {z} e-mail @user #tag".split()
    long_text = ""
    while len(long_text) < 20_000:
        long_text += rnd.choice(words) + rnd.choice([" ", " ", " ", "  ", "\n", "\n\n", ", ", ". ", "\t"])
    texts = [
        long_text[:20_000],
        base64.b64encode(rnd.randbytes(37_500)).decode(),  # one 50,000-character line
        "",
        " ",
        "   ",
        "\n",
        "  leading and trailing  ",
        "\ttabbed\t",
        "\n\nnewlines around\n\n",
        "line one\r\nline two\r\n",
        "carriage\rreturn",
        "a\tb\t\tc\t\t\td",
        "\n \n  \n\t\n",
        # CJK and Thai without spaces
        "日本語のテキストには単語の間にスペースがありません。東京は日本の首都です。",
        "中文文本在词之间没有空格，北京是中华人民共和国的首都。",
        "한국어텍스트도띄어쓰기없이쓸수있습니다",
        "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำกรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
        # emoji, ZWJ sequences, flags, skin tones, keycaps
        "I love 🍕 and 🎉!",
        "family 👨‍👩‍👧‍👦 and 👩🏽‍💻 and 🏳️‍🌈",
        "🇫🇷🇯🇵🇺🇸 👍🏽👍🏿 1️⃣#️⃣",
        # right to left, and mixed with left to right
        "مرحبا بالعالم، كيف حالك اليوم؟",
        "שלום עולם, מה שלומך היום?",
        "The word سلام means peace (שלום), 2024-05-01.",
        "\u200fRTL mark\u200e LTR mark \u202bembedding\u202c",
        # mixed scripts
        "Résumé naïve café — Ελληνικά, русский язык, हिन्दी, தமிழ், 日本, 한국, ไทย, Tiếng Việt",
        # special and added tokens written literally
        "<bos>",
        "<eos>",
        "<pad>",
        "<unk>",
        "<start_of_turn>user\nWhat is the red planet?<end_of_turn>\n<start_of_turn>model\n",
        "text with <bos> and <eos> inside",
        "<bos><bos><eos>",
        "<<bos>> <bos <bos bos> < bos > <BOS> </bos>",
        "<image_soft_token> <start_of_image><end_of_image> <mask> [multimodal]",
        "<unused0><unused99><unused6241><unused6242>",
        "<b>bold</b> <table><tr><td>cell</td></tr></table> <h1>title</h1>",
        "▁ lower ▁▁ one ▁▁▁ eighth ▁ ▁▁  blocks",
        # unusual Unicode
        "e\u0301 a\u0308 n\u0303 combining, Z\u0337\u0322a\u0336l\u0338g\u0335o\u0337",
        "ﬁ ﬂ ﬃ ligatures",
        "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ１２３ and half-width ｶﾀｶﾅ",
        "①②③ ™ ℃ Ⅻ x² H₂O ½",
        "no\u00a0break\u3000ideographic\u2009thin\u200bzero\u200cwidth\u200djoiner\ufeffbom",
        "controls \x00\x01\x07\x08\x0b\x0c\x1b\x1f\x7f\x80\x85\x9f\u2028\u2029",
        "astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 𓀀 \U0010ffff private \ue000\uf8ff noncharacters \ufffe\uffff \ufffd",
        # code
        "def f(x):\n    return x  +  1\n\n\nclass A:\n\tpass\n",
        '{"key": [1, 2.5e-3, null], "url": "https://example.com/a?b=c&d=e#f"}',
        "C:\\Users\\name\\file.txt ∑∫√∞≠≤ ->> <= => !== ...",
    ]
    for k in (1, 2, 3, 7, 30, 31, 32, 33, 62, 63, 64, 100):
        texts += ["a" + " " * k + "b", " " * k + "word", "word" + " " * k, "x" + "\n" * k + "y", "\t" * k + "z"]
        texts += ["p" + "▁" * k + "q", "m" + " \n" * k + "n"]
    return texts


def short(texts: list[str]) -> list[str]:
    return [text for text in texts if len(text) < 1000]


def fuzz_texts(n: int, seed: int = 0) -> list[str]:
    """Random mixes of scripts, whitespace runs, control characters and literal special tokens."""
    rnd = random.Random(seed)
    chars = list(" \t\n\r▁abcXYZ019.,!?'\"<>/[]_-éüßçñ中文日本語한국어ไทยالعربيةעברית😀👨‍👩‍👧\u200d\u0301ﬁＡ")
    chars += ["\x00", "\x0b", "\x1f", "\x7f", "\x85", "\u00a0", "\u2028", "\u3000", "\ufeff", "\U0001f3fb"]
    pieces = ["<bos>", "<eos>", "<pad>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<image_soft_token>", "<b>"]
    pieces += ["</b>", "<unused0>", "[multimodal]", "<mask>", "<bo", "bos>", "\n\n", "\t\t", "▁▁", "the", " planet"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(0, 40)):
            r = rnd.random()
            if r < 0.6:
                parts.append(rnd.choice(chars))
            elif r < 0.8:
                parts.append(rnd.choice(pieces))
            else:
                parts.append(rnd.choice([" ", "\n", "\t", "▁"]) * rnd.randint(1, 70))
        out.append("".join(parts))
    return out


def eval_files() -> list[Path]:
    return sorted(EVAL.glob("*/*.tsv")) if EVAL.is_dir() else []


def read_sentences(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows and rows[0][:2] == ["sentence1", "sentence2"], path
    return list(dict.fromkeys(text for row in rows[1:] for text in row[:2]))


def run_blocked(code: str) -> str:
    """Run ``code`` in a fresh interpreter where importing torch or transformers fails."""
    script = "import sys\nsys.modules['torch'] = None\nsys.modules['transformers'] = None\n"
    script += f"sys.path.insert(0, {str(SRC)!r})\n" + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# -- the real model -----------------------------------------------------------------------------------


@pytest.mark.real_model
def test_real_model_runs_sentencepiece_on_the_same_bpe(real_model):
    """SentencePiece runs, and tokenizer.json is its BPE merge for merge: the reason the ids agree."""
    sentencepiece = pytest.importorskip("sentencepiece")
    convert = pytest.importorskip("transformers.convert_slow_tokenizer")
    tok = light(real_model)
    assert tok.implementation == "sentencepiece", tok.fallback_reason
    assert tok.fallback_reason is None

    with open(Path(real_model) / "tokenizer.json", encoding="utf-8") as f:
        spec = json.load(f)
    assert tok._added == {t["content"]: t["id"] for t in spec["added_tokens"]}
    assert (tok._prefix, tok._suffix) == ([2], [1])  # <bos> text <eos>
    sp = sentencepiece.SentencePieceProcessor(model_file=str(Path(real_model) / "tokenizer.model"))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    assert spec["model"]["vocab"] == vocab
    merges = convert.generate_merges(vocab, {piece: sp.get_score(i) for i, piece in enumerate(pieces)})
    assert [tuple(m) for m in spec["model"]["merges"]] == merges


@pytest.mark.real_model
@pytest.mark.parametrize("path", eval_files() or [None], ids=lambda p: f"{p.parent.name}/{p.name}" if p else "none")
def test_real_model_same_ids_on_every_eval_sentence(real_model, path):
    if path is None:
        pytest.skip(f"no evaluation sets under {EVAL}")
    tok = light(real_model)
    texts = read_sentences(path)
    assert_same(tok, real_model, texts, what=f"{path} raw")
    for prompt in PROMPTS:
        assert_same(tok, real_model, [prompt + text for text in texts], what=f"{path} {prompt!r}", count=False)


@pytest.mark.real_model
def test_real_model_same_ids_on_hard_texts(real_model):
    tok = light(real_model)
    texts = hard_texts()
    assert_same(tok, real_model, texts, what="hard texts")
    for prompt in PROMPTS[:2]:
        assert_same(tok, real_model, [prompt + text for text in texts], what=f"hard texts {prompt!r}")
    assert_same(tok, real_model, fuzz_texts(5000), what="fuzz")


@pytest.mark.real_model
def test_real_model_truncation_keeps_bos_and_final_eos(real_model):
    """As ``AutoTokenizer(truncation=True, max_length=N)``; below N=2 (its 2 special tokens) it cuts nothing."""
    tok = light(real_model)
    texts = short(hard_texts()) + fuzz_texts(300, seed=1)
    sentences = read_sentences(eval_files()[0])[:300] if eval_files() else []
    texts += [PROMPTS[0] + text for text in sentences]
    for n in LENGTHS:
        assert_same(tok, real_model, texts, n, what="truncation")
    for n in (2, 3, 2048):
        assert_same(tok, real_model, hard_texts()[:2], n, what="long texts truncation")
    assert tok.encode(["hello world how are you"], 3) == [[2, 23391, 1]]
    assert tok.encode(["hello world how are you"], 2) == [[2, 1]]
    assert tok.encode(["hello world how are you"], 1) == tok.encode(["hello world how are you"], UNCUT)


@pytest.mark.real_model
def test_real_model_tokenizers_fallback_gives_the_same_ids(real_model):
    tok = light(real_model, "tokenizers")
    assert tok.implementation == "tokenizers"
    texts = hard_texts()
    assert_same(tok, real_model, texts, what="tokenizers implementation")
    for n in (1, 2, 3, 64):
        assert_same(tok, real_model, short(texts), n, what="tokenizers implementation")


@pytest.mark.real_model
def test_real_model_is_thread_safe(real_model):
    tok = light(real_model)
    texts = hard_texts() + fuzz_texts(2000, seed=2)
    chunks = [texts[i::16] for i in range(16)]
    serial = [tok.encode(chunk, 512) for chunk in chunks]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda chunk: tok.encode(chunk, 512), chunks)) == serial
        assert list(pool.map(tok.count, chunks)) == [[len(ids) for ids in tok.encode(c, UNCUT)] for c in chunks]


@pytest.mark.real_model
def test_real_model_is_light_and_needs_no_torch_or_transformers(real_model):
    texts = ["<bos>Which planet is known as the Red Planet?", "ﬁ  Ａ\u3000 😀"]
    out = run_blocked(f"""
        import json, sys
        def rss():
            try:
                with open('/proc/self/status') as f:
                    return next(int(line.split()[1]) for line in f if line.startswith('VmRSS')) / 1024
            except OSError:  # not Linux: no measure
                return 0.0
        import sentencepiece
        from embeddinggemma._tokenizer import Tokenizer
        before = rss()
        tok = Tokenizer({real_model!r})
        grown = rss() - before
        print(json.dumps({{"implementation": tok.implementation, "ids": tok.encode({texts!r}, 2048), "mb": grown,
                           "tokenizers": "tokenizers" in sys.modules}}))
    """)
    result = json.loads(out)
    assert result["implementation"] == "sentencepiece"
    assert result["ids"] == reference(real_model)(texts)["input_ids"]
    assert not result["tokenizers"]  # the 290 MB library was never loaded
    assert result["mb"] < 120, f"loading the tokenizer grew RSS by {result['mb']:.0f} MB (expected ~50)"


# -- the tiny model (tokenizer.json only: the tokenizers fallback) -----------------------------------


def test_tiny_model_falls_back_to_tokenizers_with_the_same_ids(tiny_model):
    tok = light(tiny_model)
    assert tok.implementation == "tokenizers"
    assert "tokenizer.model" in tok.fallback_reason
    texts = hard_texts() + fuzz_texts(1000)
    assert_same(tok, tiny_model, texts, what="tiny")
    assert_same(tok, tiny_model, [PROMPTS[0] + text for text in texts], what="tiny prompted", count=False)
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
    assert_same(tok, gemma_like, [PROMPTS[1] + text for text in texts], what="gemma-like prompted", count=False)
    for n in LENGTHS:
        assert_same(tok, gemma_like, short(hard_texts()) + fuzz_texts(300, seed=4), n, what="gemma-like truncation")


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


def test_missing_folder_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Tokenizer(tmp_path / "nowhere")


def test_folder_without_tokenizer_files_names_them_and_the_fix(tmp_path):
    with pytest.raises(ModelLoadError) as caught:
        Tokenizer(tmp_path)
    message = str(caught.value)
    assert "neither tokenizer.model nor tokenizer.json" in message
    assert "hf download google/embeddinggemma-300m" in message
    assert isinstance(caught.value, OSError)


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
