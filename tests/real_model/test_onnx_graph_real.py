"""The torch-free ONNX graph builder on the real model: the same vectors as sentence-transformers, past the
512-token sliding window, batched or one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from _support import MODEL_CARD_SIMILARITIES  # noqa: E402
from _support.graph_runner import GraphRunner, cosines, unnormalised_reference  # noqa: E402

from embeddinggemma._engines.onnx_graph import write_onnx_graph  # noqa: E402


@pytest.fixture(scope="module")
def real_graph(real_model: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = Path(real_model)
    return folder, write_onnx_graph(folder, tmp_path_factory.mktemp("real-graph") / "model.onnx")


def test_real_graph_matches_sentence_transformers(real_graph: tuple[Path, Path]) -> None:
    folder, graph = real_graph
    query = "task: search result | query: Which planet is known as the Red Planet?"
    documents = [
        "Venus is often called Earth's twin because of its similar size and proximity.",
        "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
        "Jupiter, the largest planet in our solar system, has a prominent red spot.",
        "Saturn, famous for its rings, is sometimes mistaken for the Red Planet.",
    ]
    sentence = "Sentence {} compares the orbits, moons and reddish dust of the planets Mars and Venus."
    long = " ".join(sentence.format(i) for i in range(34))
    texts = [query] + [f"title: none | text: {text}" for text in [*documents, long]]
    runner = GraphRunner(folder, graph)
    ids = runner.ids(texts)
    assert 560 <= len(ids[-1]) <= 660  # past the 512-token sliding window
    expected = unnormalised_reference(folder, texts)
    alone, batched = runner.one_by_one(ids), runner.run(ids)
    # 0.999999, not 0.99999: a sliding window off by one position still gives 0.999985 on the long text.
    assert cosines(alone, expected).min() >= 0.999999
    assert cosines(batched, expected).min() >= 0.999999
    assert np.abs(alone - expected).max() <= 1e-5 * np.abs(expected).max()
    unit = alone / np.linalg.norm(alone, axis=1, keepdims=True)
    np.testing.assert_allclose(unit[1:5] @ unit[0], MODEL_CARD_SIMILARITIES, atol=2e-3)
