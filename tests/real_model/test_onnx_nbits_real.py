"""``quantization="int8"`` / ``"int4"`` on the real model: the model card's similarities through both adapters,
the cosine to float32 on the model card's texts and five long passages, and the memory after load (the tiny
model's checks of the graphs: ``tests/integration/test_onnx_nbits.py``).

Measured on the real model (2-core Intel Xeon with AVX-512 VNNI and AMX, ONNX Runtime 1.32, 2 threads; cosine
to the exact float32 engine, which is sentence-transformers' to 1e-6; 2026-12-05), and held here with a margin:

| mode | card texts and five passages: min / mean cosine | RSS after load (``Embedder`` alone) |
|---|---|---|
| ``int8`` (integer GEMM, 32 float32 channels) | 0.99945 / 0.99955 | 223 MB |
| ``int4`` (4-bit blocks of 32; v/o/down/Dense integer, 8 float32 channels) | 0.99465 / 0.99598 | 184 MB |
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _support import MODEL_CARD_SIMILARITIES
from _support.apps import SAMPLE_DOCS
from _support.vectors import cosines

pytest.importorskip("onnxruntime")

BOUNDS = {
    "int8": {"min": 0.999, "mean": 0.9995, "card_move": 0.01, "rss_mb": 300},
    "int4": {"min": 0.99, "mean": 0.993, "card_move": 0.015, "rss_mb": 200},
}
"""The issue's targets: int8 min 0.999, mean 0.9995, RSS after load 300 MB; int4 min 0.99, RSS 200 MB (with
``Embedder`` alone 223 and 184 MB on 2026-12-05; through the LangChain adapter 237 and 198)."""


def _card_similarities(model: str, adapter: str, **settings) -> np.ndarray:
    from quickstart import DOCUMENTS, QUERY

    if adapter == "langchain":
        from langchain_embeddinggemma import EmbeddingGemmaEmbeddings

        lc = EmbeddingGemmaEmbeddings(model=model, **settings)
        return np.array(lc.embed_documents(DOCUMENTS)) @ np.array(lc.embed_query(QUERY))
    from llama_index_embeddinggemma import EmbeddingGemmaEmbedding

    li = EmbeddingGemmaEmbedding(model_name=model, **settings)
    return np.array(li.get_text_embedding_batch(DOCUMENTS)) @ np.array(li.get_query_embedding(QUERY))


@pytest.mark.parametrize("mode", list(BOUNDS))
@pytest.mark.parametrize("adapter", ["langchain", "llama_index"])
def test_model_card_similarities_through_both_adapters(real_model, adapter, mode):
    similarities = _card_similarities(real_model, adapter, quantization=mode)
    np.testing.assert_allclose(similarities, MODEL_CARD_SIMILARITIES, atol=BOUNDS[mode]["card_move"])
    assert similarities.argmax() == 1  # Mars


def _passages(count: int = 5, words: int = 330) -> list[str]:
    """``count`` passages of ~450 tokens: the sample documents' words, one after another, cut every ``words``."""
    text = " ".join(path.read_text(encoding="utf-8") for path in sorted(SAMPLE_DOCS.glob("*.md"))).split()
    return [" ".join(text[i : i + words]) for i in range(0, count * words, words)]


@pytest.mark.parametrize("mode", list(BOUNDS))
def test_cosine_to_float32_on_the_card_and_long_passages(real_model, mode, capsys):
    from quickstart import DOCUMENTS, QUERY

    from embeddinggemma import Embedder

    exact, small = Embedder(model=real_model, engine="onnxruntime"), Embedder(model=real_model, quantization=mode)
    assert min(exact.runtime.count_tokens(_passages())) > 350
    found = np.concatenate(
        [
            cosines(small.embed([QUERY], side="query"), exact.embed([QUERY], side="query")),
            cosines(small.embed(DOCUMENTS), exact.embed(DOCUMENTS)),
            cosines(small.embed(_passages()), exact.embed(_passages())),
        ]
    )
    with capsys.disabled():
        print(
            f"\n{mode} cosine to float32, card texts and five passages: min {found.min():.5f} mean {found.mean():.5f}"
        )
    assert found.min() >= BOUNDS[mode]["min"], found
    assert found.mean() >= BOUNDS[mode]["mean"], found


@pytest.mark.parametrize("mode", list(BOUNDS))
def test_memory_after_load_in_a_fresh_process(real_model, mode):
    from embeddinggemma import Embedder

    Embedder(model=real_model, quantization=mode).embed(["built before the measured process starts"])
    code = (
        "import json, sys\nfrom embeddinggemma import Embedder\n"
        f"Embedder(model={real_model!r}, quantization={mode!r}).embed(['Which planet is known as the Red Planet?'])\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
        "print(json.dumps({key: int(status[key].split()[0]) // 1024 for key in ('VmRSS', 'VmHWM')}))\n"
        "print('torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    memory, torch_imported = run.stdout.strip().splitlines()[-2:]
    assert torch_imported == "False"
    assert json.loads(memory)["VmRSS"] <= BOUNDS[mode]["rss_mb"], memory
