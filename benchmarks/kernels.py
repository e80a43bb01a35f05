"""One projection through each of ONNX Runtime's CPU kernels the quantized recipes can use, on this CPU.

``x @ W`` with ``W`` of the model's shape (``hidden_size`` x ``intermediate_size``, from ``--model``'s
config; random weights) and ``x`` of ``--rows`` rows (random, two channels 20x the rest, as the
normalised activations EmbeddingGemma's projections read), as a one-node (or, for the integer GEMM, the
few nodes ``onnx_nbits`` writes) ONNX graph:

- ``float32``: ``MatMul`` (the default engine's);
- ``MatMulNBits`` 8-bit blocks of 32 / 128 and 4-bit blocks of 32, at ``accuracy_level`` 4 (int8
  arithmetic on activations rounded per block) and 0 (float32 arithmetic on restored weights);
- ``integer u8 x s8``: activations rounded per row around 128, int8 columns, ``MatMulInteger`` (the
  recipes' integer GEMM; exact only with VNNI or AMX, see ``integer_gemm_is_exact``);
- ``integer s8 x s8``: the same with signed activations (what a symmetric recipe would write).

Per kernel and row count: milliseconds per call, speed as a ratio to ``float32``, and the largest error
relative to the largest output (float64 reference). Run from the repository root:

    python -m benchmarks.kernels --model "$EMBEDDINGGEMMA_MODEL" --rows 16 256 2048 --json kernels.json
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # started by path: sys.path[0] is benchmarks/
    import _harness

    _harness.rerun_as_module(__file__)

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._harness import add_common_arguments, machine_summary, report_header, write_json
from embeddinggemma._engines.onnx_nbits import integer_gemm_is_exact
from embeddinggemma._model_files import resolve_model_dir
from embeddinggemma._threads import threads


def _session(nodes: list[Any], initializers: dict[str, np.ndarray], k: int) -> Any:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes,
        "projection",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in initializers.items()],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)]
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads(), 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _nbits(weight: np.ndarray, bits: int, block: int, level: int) -> Any:
    from onnx import helper

    k, n = weight.shape
    blocks = weight.T.reshape(n, k // block, block)
    half = 2 ** (bits - 1)
    scale = (np.abs(blocks).max(-1) / (half - 1)).astype(np.float32)
    codes = (np.clip(np.rint(blocks / scale[..., None]), -half, half - 1) + half).astype(np.uint8)
    if bits == 4:
        codes = codes[..., 0::2] | (codes[..., 1::2] << 4)
    node = helper.make_node(
        "MatMulNBits", ["x", "w", "s"], ["y"], domain="com.microsoft", K=k, N=n, bits=bits, block_size=block,
        accuracy_level=level,
    )  # fmt: skip
    return _session([node], {"w": codes, "s": scale.reshape(-1)}, k)


def _integer(weight: np.ndarray, signed: bool) -> Any:
    from onnx import TensorProto, helper

    scale = (np.abs(weight).max(0) / 127).astype(np.float32)
    columns = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
    zero = np.int8(0) if signed else np.uint8(128)
    steps = [
        ("Abs", ["x"], "a", {}),
        ("ReduceMax", ["a", "axis"], "m", {"keepdims": 1}),
        ("Max", ["m", "smallest"], "m2", {}),
        ("Mul", ["m2", "per_code"], "r", {}),
        ("Div", ["x", "r"], "d", {}),
        ("QuantizeLinear", ["d", "one", "zero"], "q", {}),
        ("MatMulInteger", ["q", "w", "zero"], "i", {}),
        ("Cast", ["i"], "f", {"to": TensorProto.FLOAT}),
        ("Mul", ["f", "r"], "fr", {}),
        ("Mul", ["fr", "s"], "y", {}),
    ]
    nodes = [helper.make_node(op, inputs, [out], **kw) for op, inputs, out, kw in steps]
    constants = {
        "w": columns, "s": scale, "axis": np.array([-1], np.int64), "smallest": np.float32(1e-30),
        "per_code": np.float32(1 / 127), "one": np.float32(1), "zero": zero,
    }  # fmt: skip
    return _session(nodes, constants, weight.shape[0])


def kernels(weight: np.ndarray) -> dict[str, Any]:
    from onnx import helper

    return {
        "float32": _session([helper.make_node("MatMul", ["x", "w"], ["y"])], {"w": weight}, weight.shape[0]),
        "MatMulNBits 8-bit /32, level 4": _nbits(weight, 8, 32, 4),
        "MatMulNBits 8-bit /128, level 4": _nbits(weight, 8, 128, 4),
        "MatMulNBits 8-bit /32, level 0": _nbits(weight, 8, 32, 0),
        "MatMulNBits 4-bit /32, level 4": _nbits(weight, 4, 32, 4),
        "MatMulNBits 4-bit /32, level 0": _nbits(weight, 4, 32, 0),
        "integer u8 x s8": _integer(weight, signed=False),
        "integer s8 x s8": _integer(weight, signed=True),
    }


def measure(k: int, n: int, rows: list[int], seconds: float) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((k, n)) * 0.05).astype(np.float32)
    sessions = kernels(weight)
    results = []
    for count in rows:
        x = rng.standard_normal((count, k)).astype(np.float32)
        x[:, :2] *= 20
        reference = x.astype(np.float64) @ weight
        base = None
        for name, session in sessions.items():
            y = session.run(None, {"x": x})[0]
            calls, started = 0, time.perf_counter()
            while calls < 3 or time.perf_counter() - started < seconds:
                session.run(None, {"x": x})
                calls += 1
            per_call = (time.perf_counter() - started) / calls
            base = base or per_call
            error = float(np.abs(y - reference).max() / np.abs(reference).max())
            results.append(
                {"kernel": name, "rows": count, "ms": per_call * 1e3, "speed": base / per_call, "error": error}
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--rows", type=int, nargs="+", default=[16, 256, 2048], help="rows per call")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per kernel and row count (default 1)")
    args = parser.parse_args(argv)
    config = json.loads((Path(resolve_model_dir(args.model)) / "config.json").read_text())
    k, n = config["hidden_size"], config["intermediate_size"]
    exact = integer_gemm_is_exact()
    print(f"{machine_summary()}\nx [rows, {k}] @ W [{k}, {n}]; integer GEMM exact on this CPU: {exact}")
    rows = measure(k, n, args.rows, args.seconds)
    print("\n| kernel | rows | ms a call | × float32 | max error / max output |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['kernel']} | {row['rows']} | {row['ms']:.3f} | {row['speed']:.2f}× | {row['error']:.1e} |")
    write_json(args.json, {**report_header(), "shape": [k, n], "integer_gemm_exact": exact, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
