"""Calibration for the quantized ONNX builds: the float32 graph run over a few built-in texts, recording
what each weight projection reads (its input activation), so that the quantizer can weigh its rounding
errors by what the model actually multiplies them with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION_ROWS = 16
"""Activation rows kept per calibration text and activation."""

_PROMPTS = ("title: none | text: ", "task: search result | query: ", "task: sentence similarity | query: ")
CALIBRATION = (
    "The river rose three metres overnight after a week of heavy rain in the hills. By morning the lower "
    "streets of the town were under water, and volunteers were carrying sandbags to the bakery, the school "
    "and the old people's home. The mayor said the new flood wall had held where it was finished, and that "
    "the unfinished stretch near the bridge would be completed before winter.",
    "How do I reset my password if I no longer have access to the email address on my account?",
    "Photosynthesis converts light energy into chemical energy. Chlorophyll absorbs mostly blue and red "
    "light; the energy splits water molecules, releasing oxygen, and drives the synthesis of ATP and NADPH, "
    "which the Calvin cycle then uses to fix carbon dioxide into sugars.",
    "def merge_sorted(a, b):\n    out, i, j = [], 0, 0\n    while i < len(a) and j < len(b):\n"
    "        if a[i] <= b[j]:\n            out.append(a[i]); i += 1\n        else:\n"
    "            out.append(b[j]); j += 1\n    return out + a[i:] + b[j:]",
    "Quarterly revenue grew 12% to $4.3 billion, driven by subscriptions, while operating margin fell to "
    "18% because of higher cloud costs. The company expects flat revenue next quarter and will buy back "
    "up to $500 million of shares.",
    "A man is playing a guitar on a street corner.",
    "Two dogs are running through a snowy field.",
    "Die Bahn hat den Fahrplan für den Winter geändert: Der Nachtzug nach Wien fährt nun täglich, und in "
    "Salzburg gibt es einen direkten Anschluss. La gare centrale sera fermée deux semaines pour travaux. "
    "東京駅から京都駅まで新幹線で約二時間十五分かかります。",
    "Symptoms of dehydration include thirst, dark urine, fatigue, dizziness and confusion. Older adults and "
    "young children are most at risk. Drink water regularly, more in hot weather or during exercise, and "
    "seek medical help if symptoms persist.",
    "Is it true that the Great Wall of China is visible from the Moon with the naked eye?",
    "In 1969 the Apollo 11 mission landed the first humans on the Moon. Neil Armstrong and Buzz Aldrin "
    "spent about two and a half hours outside the lunar module, collecting 21.5 kg of samples, while "
    "Michael Collins orbited above in the command module.",
    "SELECT customer_id, COUNT(*) AS orders, SUM(total) AS spent FROM orders WHERE created_at >= "
    "'2024-01-01' GROUP BY customer_id HAVING COUNT(*) > 3 ORDER BY spent DESC LIMIT 20;",
    "The recipe needs 200 g of flour, two eggs, 300 ml of milk and a pinch of salt. Whisk until smooth, let "
    "the batter rest for half an hour, then cook thin pancakes in a hot buttered pan, one minute per side.",
    "Markets rallied after the central bank held interest rates steady and signalled that cuts could come "
    "later in the year if inflation keeps easing.",
    "A retrieval system embeds the query and every document into vectors and returns the documents whose "
    "vectors are closest to the query's, usually by cosine similarity; a reranker can then reorder the top "
    "results with a slower, more precise model.",
    "The cat sat on the windowsill, watching the birds in the garden and ignoring everyone.",
)
"""Texts whose activations set the channel scales: prose, questions, short sentences, code, numbers and
other languages, each under one of the model's prompts (written for this purpose, no data set)."""


def weight_matmuls(model: Any) -> list[Any]:
    """Every MatMul node whose second input is a weight (an initializer)."""
    weights = {tensor.name for tensor in model.graph.initializer}
    return [node for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in weights]


class Activations:
    """Per activation that feeds weight MatMuls: mean |x| per channel and a sample of rows."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}
        self.rows: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, value: np.ndarray, rng: np.random.Generator) -> None:
        flat = value.reshape(-1, value.shape[-1]).astype(np.float32, copy=False)
        self.sums[name] = self.sums.get(name, 0) + np.abs(flat).sum(0, dtype=np.float64)
        self.counts[name] = self.counts.get(name, 0) + len(flat)
        keep = rng.choice(len(flat), size=min(len(flat), CALIBRATION_ROWS), replace=False)
        self.rows.setdefault(name, []).append(flat[np.sort(keep)].copy())

    def mean(self, name: str) -> np.ndarray:
        return self.sums[name] / self.counts[name]

    def sample(self, name: str) -> np.ndarray:
        return np.concatenate(self.rows[name])


def observe(float_path: Path, folder: Path) -> Activations:
    """Run the float32 graph over :data:`CALIBRATION`, recording every weight MatMul's input activation."""
    import onnx
    import onnxruntime as ort

    from .._threads import threads
    from .._token_rows import token_table
    from .._tokenizer import Tokenizer

    graph_model = onnx.load(str(float_path), load_external_data=False)
    inputs = list(dict.fromkeys(node.input[0] for node in weight_matmuls(graph_model)))
    for name in inputs:
        graph_model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    # Beside the float graph: ONNX Runtime only reads external data from the model's own folder.
    observer = float_path.with_name(float_path.name + ".observe.onnx")
    try:
        onnx.save_model(graph_model, str(observer))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads()
        session = ort.InferenceSession(str(observer), options, providers=["CPUExecutionProvider"])
    finally:
        observer.unlink(missing_ok=True)
    tokenizer = Tokenizer(folder)
    rows = token_table(folder / "model.safetensors")
    scale = np.float32(np.sqrt(rows.width))
    texts = [_PROMPTS[i % len(_PROMPTS)] + text for i, text in enumerate(CALIBRATION)]
    activations, rng = Activations(), np.random.default_rng(0)
    for ids in tokenizer.encode(texts, 512):
        embeds = (rows(np.asarray(ids)) * scale)[None]
        outputs = session.run(inputs, {"inputs_embeds": embeds, "attention_mask": np.ones((1, len(ids)), np.int64)})
        for name, value in zip(inputs, outputs, strict=True):
            activations.add(name, value, rng)
    return activations
