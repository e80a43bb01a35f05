"""The STS quality benchmark's pieces, without a model: each distinct sentence is embedded once, and the runtime
options reach both adapters (built and validated, nothing loaded)."""

import numpy as np

from benchmarks.quality import Pairs, make_adapter, pair_cosines, runtime_settings


def test_each_distinct_sentence_is_embedded_once():
    seen: list[str] = []

    def embed(texts: list[str]) -> list[list[float]]:
        seen.extend(texts)
        return [[float(len(t)), 1.0] for t in texts]

    pairs = Pairs(["a", "bb", "a"], ["bb", "ccc", "ccc"], np.array([1.0, 2.0, 3.0]))
    cosine = pair_cosines(embed, pairs, chunk=2, progress=False)
    assert sorted(seen) == ["a", "bb", "ccc"]
    expected = [(1 * 2 + 1) / (np.hypot(1, 1) * np.hypot(2, 1)), (2 * 3 + 1) / (np.hypot(2, 1) * np.hypot(3, 1))]
    np.testing.assert_allclose(cosine, [expected[0], expected[1], (1 * 3 + 1) / (np.hypot(1, 1) * np.hypot(3, 1))])


def test_runtime_options_reach_both_adapters():
    runtime = runtime_settings(backend="local", quantization="q8_0", max_seq_length=512, dtype="float32", batch_size=8)
    for adapter in ("langchain", "llama_index"):
        config = make_adapter(adapter, "some/model", task="semantic_similarity", dimensions=256, runtime=runtime)
        # built and validated, nothing loaded yet
        assert (config.quantization, config.max_seq_length, config.batch_size) == ("q8_0", 512, 8)
        assert (config.task, config.dimensions, config.backend) == ("semantic_similarity", 256, "local")
    server = runtime_settings(backend="openai", base_url="http://127.0.0.1:9/v1")
    config = make_adapter("langchain", "m", task="retrieval", dimensions=768, runtime=server)
    assert (config.backend, config.base_url) == ("openai", "http://127.0.0.1:9/v1")
