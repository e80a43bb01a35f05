"""The OpenVINO engine on the CPU: the exact float32 ONNX graph of :mod:`.onnx` (built once from the model
folder, no torch), compiled by OpenVINO instead of run by ONNX Runtime. Intel's runtime for Intel CPUs:
tokenization, token rows and batching are the ONNX engine's, so the vectors are the same to float
rounding. Inference is pinned to float32: on CPUs with bfloat16 units OpenVINO would otherwise run in
bfloat16 and the vectors would drift from the model's.
"""

from __future__ import annotations

import numpy as np

from .._errors import ModelLoadError, require
from .._threads import threads
from .base import RuntimeSpec
from .onnx import GraphModel


def load(spec: RuntimeSpec) -> OpenVinoModel:
    return OpenVinoModel(spec.model)


class OpenVinoModel(GraphModel):
    """EmbeddingGemma's float32 graph compiled by OpenVINO for the CPU."""

    def __init__(self, model: str) -> None:
        ov = require("openvino", what="the OpenVINO engine", extra="openvino")
        super().__init__(model, "f32")
        config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads(), "PERFORMANCE_HINT": "LATENCY"}
        try:
            compiled = ov.Core().compile_model(str(self.artifact), "CPU", config)
        except Exception as exc:  # a foreign file: say which and how to rebuild
            raise ModelLoadError(
                f"OpenVINO could not load {str(self.artifact)!r}: {exc}. Delete it to rebuild it, or run "
                f"`python -m embeddinggemma quantize {model} --quantization onnx-f32`."
            ) from exc
        self._request = compiled.create_infer_request()  # one at a time, under the base's lock
        self.full_dimensions = int(compiled.output(0).get_partial_shape()[-1].get_length())

    def _infer(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        result = self._request.infer({"inputs_embeds": embeds, "attention_mask": mask})
        return np.array(result[0], dtype=np.float32, copy=True)  # the request reuses its output buffer
