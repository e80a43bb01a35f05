"""The light tokenizer's reference checks, shared by the tiny, Gemma-like and real tokenizers' tests: the ids of
``AutoTokenizer`` (uncut and truncated), texts where a reimplementation usually slips, random fuzz, the
evaluation sets' sentences, and a fresh interpreter where torch and transformers cannot be imported."""

from __future__ import annotations

import base64
import csv
import functools
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from embeddinggemma._tokenizer import Tokenizer

EVAL = Path(__file__).resolve().parents[3] / "shared" / "eval"
SRC = Path(__file__).resolve().parents[2] / "src"
PROMPT_PREFIXES = ("task: search result | query: ", "title: none | text: ", "task: sentence similarity | query: ")
LENGTHS = (1, 2, 3, 4, 5, 8, 16, 64, 512, 2048)
UNCUT = 1 << 30


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
