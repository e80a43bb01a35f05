"""The light tokenizer on the real model: SentencePiece on ``tokenizer.model``, id for id what ``AutoTokenizer``
gives on every evaluation sentence, hard texts and fuzz, uncut and truncated, thread-safe, and light (no
torch, no transformers, no ``tokenizers``). The tiny and Gemma-like tokenizers: ``tests/integration/test_tokenizer.py``.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _support.eval_data import sts_eval_dir
from _support.tokenizer_checks import (
    EVAL,
    LENGTHS,
    PROMPT_PREFIXES,
    UNCUT,
    assert_same,
    eval_files,
    fuzz_texts,
    hard_texts,
    light,
    read_sentences,
    reference,
    run_blocked,
    short,
)


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


@pytest.mark.parametrize("path", eval_files() or [None], ids=lambda p: f"{p.parent.name}/{p.name}" if p else "none")
def test_real_model_same_ids_on_every_eval_sentence(real_model, path):
    if path is None:
        pytest.skip(f"no evaluation sets under {EVAL}")
    tok = light(real_model)
    texts = read_sentences(path)
    assert_same(tok, real_model, texts, what=f"{path} raw")
    for prompt in PROMPT_PREFIXES:
        assert_same(tok, real_model, [prompt + text for text in texts], what=f"{path} {prompt!r}", count=False)


def test_real_model_same_ids_on_hard_texts(real_model):
    tok = light(real_model)
    texts = hard_texts()
    assert_same(tok, real_model, texts, what="hard texts")
    for prompt in PROMPT_PREFIXES[:2]:
        assert_same(tok, real_model, [prompt + text for text in texts], what=f"hard texts {prompt!r}")
    assert_same(tok, real_model, fuzz_texts(5000), what="fuzz")


def test_real_model_truncation_keeps_bos_and_final_eos(real_model):
    """As ``AutoTokenizer(truncation=True, max_length=N)``; below N=2 (its 2 special tokens) it cuts nothing."""
    tok = light(real_model)
    texts = short(hard_texts()) + fuzz_texts(300, seed=1)
    sentences = read_sentences(eval_files()[0])[:300] if eval_files() else []
    texts += [PROMPT_PREFIXES[0] + text for text in sentences]
    for n in LENGTHS:
        assert_same(tok, real_model, texts, n, what="truncation")
    for n in (2, 3, 2048):
        assert_same(tok, real_model, hard_texts()[:2], n, what="long texts truncation")
    assert tok.encode(["hello world how are you"], 3) == [[2, 23391, 1]]
    assert tok.encode(["hello world how are you"], 2) == [[2, 1]]
    assert tok.encode(["hello world how are you"], 1) == tok.encode(["hello world how are you"], UNCUT)


def test_real_model_tokenizers_fallback_gives_the_same_ids(real_model):
    tok = light(real_model, "tokenizers")
    assert tok.implementation == "tokenizers"
    texts = hard_texts()
    assert_same(tok, real_model, texts, what="tokenizers implementation")
    for n in (1, 2, 3, 64):
        assert_same(tok, real_model, short(texts), n, what="tokenizers implementation")


def test_real_model_is_thread_safe(real_model):
    tok = light(real_model)
    texts = hard_texts() + fuzz_texts(2000, seed=2)
    chunks = [texts[i::16] for i in range(16)]
    serial = [tok.encode(chunk, 512) for chunk in chunks]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda chunk: tok.encode(chunk, 512), chunks)) == serial
        assert list(pool.map(tok.count, chunks)) == [[len(ids) for ids in tok.encode(c, UNCUT)] for c in chunks]


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
    # SentencePiece's own processor would hold ~46 MB; its pieces in compact tables ~14.
    assert result["mb"] < 25, f"loading the tokenizer grew RSS by {result['mb']:.0f} MB (expected ~14)"


def test_tokenizer_benchmark_runs_and_ours_is_the_light_one(real_model, tmp_path):
    """benchmarks/tokenizer.py end to end at its smallest: every implementation gives our ids, and ours
    holds less than SentencePiece's own processor (memory, not time: timings are never asserted)."""
    from benchmarks import tokenizer as bench

    out = tmp_path / "tokenizer.json"
    argv = ["--model", real_model, "--short", "40", "--seconds", "0.01", "--json", str(out)]
    with pytest.raises(SystemExit, match="no STSBenchmark sentences"):
        bench.main([*argv, "--eval-dir", str(tmp_path / "nowhere")])
    assert bench.main([*argv, "--eval-dir", str(sts_eval_dir(tmp_path / "eval"))]) == 0
    rows = {row["implementation"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == set(bench.IMPLEMENTATIONS) and not any("error" in row for row in rows.values())
    for name, row in rows.items():
        assert row["short_tokens_per_s"] > 0 and row["long_first_tokens_per_s"] > 0
        if name != "ours":
            assert row["short_same_ids"] and row["long_same_ids"], name
    assert rows["ours"]["rss_growth_mb"] < rows["sentencepiece"]["rss_growth_mb"] / 2
