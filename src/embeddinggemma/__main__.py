"""Command line: build the on-device artifacts ahead of time.

python -m embeddinggemma quantize /models/embeddinggemma-300m --quantization q8_0
python -m embeddinggemma quantize google/embeddinggemma-300m --quantization q4_0 int8
python -m embeddinggemma quantize MODEL --quantization f32 --cache-dir ./artifacts   # GGUF for a server
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._registry import ARTIFACT_TABLE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m embeddinggemma", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    quantize = commands.add_parser(
        "quantize",
        help="build on-device artifacts (GGUF for llama.cpp, ONNX graphs) and cache them beside the model",
        description="Build the artifacts the engines load (those of quantization=...), before first use. "
        "Prints one path per artifact.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="artifacts:\n" + "\n".join(f"  {a.name:<9} {a.summary}" for a in ARTIFACT_TABLE),
    )
    quantize.add_argument(
        "model",
        help="a local model folder (EmbeddingGemma or EmbeddingGemma 2) or a hub id (google/embeddinggemma-300m, "
        "google/embeddinggemma-2)",
    )
    quantize.add_argument(
        "--quantization",
        "-q",
        nargs="+",
        default=["q8_0"],
        choices=[artifact.name for artifact in ARTIFACT_TABLE],
        help="which artifacts to build (listed below; default q8_0)",
    )
    quantize.add_argument("--cache-dir", default=None, help="where to write (default: <model>/quantized)")
    quantize.add_argument("--force", action="store_true", help="rebuild even when a cached artifact exists")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .quantize import build

    for name in args.quantization:
        path = build(args.model, name, args.cache_dir, force=args.force)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
