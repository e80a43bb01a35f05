"""The torch-free ONNX graph builder (``_engines.onnx_graph``) on the tiny model: same vectors as
sentence-transformers (the real model's graph: ``tests/real_model/test_onnx_graph_real.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from _support.graph_runner import GraphRunner, cosines, unnormalised_reference  # noqa: E402

from embeddinggemma._engines.onnx_graph import data_path, write_onnx_graph  # noqa: E402

TINY_TEXTS = [
    "mars",
    "the quick brown fox jumps over the lazy dog " * 6,  # ~100 tokens: far past the 16-token window
    "embedding vector search retrieval document query",
    "code fact checking question answering none title text task result " * 4,
    "venus",
]


@pytest.fixture(scope="module")
def tiny_graph(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_onnx_graph(Path(tiny_model), tmp_path_factory.mktemp("graph") / "model.onnx")


def test_tiny_graph_matches_sentence_transformers(tiny_model: str, tiny_graph: Path) -> None:
    runner = GraphRunner(Path(tiny_model), tiny_graph)
    ids = runner.ids(TINY_TEXTS)
    lengths = sorted(map(len, ids))
    assert lengths[0] <= 4 and lengths[-1] > 40  # short and long, past the sliding window, in one batch
    expected = unnormalised_reference(Path(tiny_model), TINY_TEXTS)
    for got in (runner.run(ids), runner.one_by_one(ids)):
        assert got.shape == (len(TINY_TEXTS), 768)
        assert np.abs(got - expected).max() <= 1e-5
        assert cosines(got, expected).min() >= 0.999999


def test_padding_does_not_change_a_vector(tiny_model: str, tiny_graph: Path) -> None:
    runner = GraphRunner(Path(tiny_model), tiny_graph)
    ids = runner.ids(TINY_TEXTS)
    alone = runner.one_by_one(ids)
    batched = runner.run(ids)
    reversed_batch = runner.run(ids[::-1])[::-1]
    np.testing.assert_allclose(batched, alone, atol=2e-6, rtol=0)
    np.testing.assert_allclose(reversed_batch, alone, atol=2e-6, rtol=0)


def test_graph_interface_and_files(tiny_model: str, tiny_graph: Path) -> None:
    import onnx

    onnx.checker.check_model(str(tiny_graph), full_check=True)
    model = onnx.load(str(tiny_graph), load_external_data=False)
    assert [i.name for i in model.graph.input] == ["inputs_embeds", "attention_mask"]
    assert [o.name for o in model.graph.output] == ["embeddings"]

    def dims(value: onnx.ValueInfoProto) -> list[str | int]:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert dims(model.graph.input[0]) == ["batch", "length", 32]
    assert model.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert dims(model.graph.output[0]) == ["batch", 768]
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 18
    assert {node.domain for node in model.graph.node} <= {"", "ai.onnx"}
    # The token table stays out; every weight matrix is external data in the one side file.
    assert all(400 not in init.dims for init in model.graph.initializer)
    external = [i for i in model.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL]
    assert {entry.value for i in external for entry in i.external_data if entry.key == "location"} == {
        data_path(tiny_graph).name
    }
    assert sum(len(i.dims) == 2 for i in external) == 2 * 7 + 2
    leftovers = [p.name for p in tiny_graph.parent.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers


@pytest.mark.parametrize("layout", ["saved", "flat keys"])
def test_architecture_reads_config_as_transformers_does(tiny_model: str, layout: str) -> None:
    """Window, layer types and RoPE frequencies as transformers derives them, from either config layout."""
    import json

    import torch
    from transformers import Gemma3TextConfig
    from transformers.models.gemma3.modeling_gemma3 import Gemma3RotaryEmbedding

    from embeddinggemma._engines.onnx_graph import read_architecture

    config = json.loads((Path(tiny_model) / "config.json").read_text())
    if layout == "flat keys":  # how the hub's config.json spells it (transformers 4.5x)
        del config["rope_parameters"], config["layer_types"]
        config.update(rope_theta=50_000.0, rope_local_base_freq=2_000.0, sliding_window=32, sliding_window_pattern=3)
        config["num_hidden_layers"] = 6
    arch = read_architecture(config)
    reference = Gemma3TextConfig(**{k: v for k, v in config.items() if k not in ("architectures", "model_type")})
    assert arch.window == reference.sliding_window
    assert list(arch.layer_types) == list(reference.layer_types)
    assert arch.query_scale == reference.query_pre_attn_scalar**-0.5
    rotary = Gemma3RotaryEmbedding(reference)
    for kind in set(arch.layer_types):
        expected = getattr(rotary, f"{kind}_inv_freq").to(torch.float32).numpy()
        np.testing.assert_allclose(arch.inverse_frequencies[kind], expected, rtol=2e-7, atol=0)


def test_a_foreign_stack_is_refused_and_leaves_no_files(tiny_model: str, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    modules = (folder / "modules.json").read_text().replace("modules.pooling.Pooling", "modules.pooling.Other")
    (folder / "modules.json").write_text(modules)
    target = tmp_path / "out" / "model.onnx"
    target.parent.mkdir()
    with pytest.raises(ValueError, match="Pooling"):
        write_onnx_graph(folder, target)
    assert list(target.parent.iterdir()) == []


def test_builds_without_torch_or_transformers(tiny_model: str, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'sentence_transformers', 'onnxscript'):\n"
        "    sys.modules[name] = None\n"
        "from pathlib import Path\n"
        "from embeddinggemma._engines.onnx_graph import write_onnx_graph\n"
        f"path = write_onnx_graph(Path({tiny_model!r}), Path({str(tmp_path / 'model.onnx')!r}))\n"
        "import onnxruntime, numpy as np\n"
        "session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])\n"
        "out = session.run(None, {'inputs_embeds': np.ones((1, 3, 32), np.float32),"
        " 'attention_mask': np.ones((1, 3), np.int64)})[0]\n"
        "assert out.shape == (1, 768) and np.isfinite(out).all()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
