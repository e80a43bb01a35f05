"""The one table of where a model runs (backends), which program runs it (engines) and at which
precision (quantizations and other built artifacts). Data only: every list of names in the package,
its settings' choices, runtime resolution, the command line and the README tables read these rows.

Adding an engine is one module under ``_engines/`` (with ``load`` and, if it builds files, ``build``)
and one :class:`Engine` row here; a server is one module under ``_servers/`` and one :class:`Backend`
row; a new precision of an existing engine is one :class:`Artifact` row plus its writer in that
engine's module. See CONTRIBUTING.md.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "google/embeddinggemma-300m"
DEFAULT_OLLAMA_URL = "http://localhost:11434"
LOCAL = "local"
AUTO = "auto"


@dataclass(frozen=True)
class Backend:
    """Where the model runs: in this process, or on a server of some protocol."""

    name: str
    summary: str
    module: str | None = None
    """The server runtime's module (``None``: in this process, see :data:`ENGINE_TABLE`)."""
    extra: str | None = None
    """The pip extra that installs its client library."""
    client: str | None = None
    """The client library's import name."""
    default_url: str | None = None


@dataclass(frozen=True)
class Engine:
    """A program that runs the model in this process."""

    name: str
    summary: str
    module: str
    """Its module under ``embeddinggemma._engines``: ``load(spec)`` and, if it builds files, ``build(...)``."""
    needs: tuple[str, ...]
    """Import names it needs; a missing one is an error naming :attr:`extra`."""
    extra: str | None
    """The pip extra that installs :attr:`needs` (``None``: they are default dependencies)."""
    devices: tuple[str, ...] = ("cpu",)
    runs_float: bool = True
    """Runs a model folder in float without ``quantization=`` (llama.cpp runs GGUF files only)."""
    model_files: tuple[str, ...] = ()
    """File endings of single-file models it runs (``model="x.gguf"``)."""


@dataclass(frozen=True)
class Artifact:
    """A file an engine builds from the model folder once and loads after (``python -m embeddinggemma
    quantize``). Those with ``quantization=True`` are the ``quantization=`` setting's choices."""

    name: str
    engine: str
    precision: str
    """The engine's own name for it (``f32``, ``int8``, ``q8_0``, ...)."""
    summary: str
    quantization: bool = True


BACKEND_TABLE: tuple[Backend, ...] = (
    Backend(LOCAL, "in this process, on the engine `engine=` picks"),
    Backend(
        "ollama",
        "an Ollama server (`/api/embed`)",
        module="embeddinggemma._servers.ollama",
        extra="ollama",
        client="ollama",
        default_url=DEFAULT_OLLAMA_URL,
    ),
    Backend(
        "openai",
        "any OpenAI-compatible `/v1/embeddings` server (llama-server, vLLM, TEI, Docker Model Runner)",
        module="embeddinggemma._servers.openai",
        extra="server",
        client="httpx",
        default_url="http://localhost:8080/v1",
    ),
)

ENGINE_TABLE: tuple[Engine, ...] = (
    Engine(
        "onnxruntime",
        "ONNX Runtime on the CPU: exact float32 from a graph written from the safetensors, or int8 / int4",
        module="embeddinggemma._engines.onnx",
        needs=("onnxruntime",),
        extra=None,
    ),
    Engine(
        "torch",
        "sentence-transformers on torch: CUDA (bfloat16), Apple GPUs, or the CPU",
        module="embeddinggemma._engines.torch",
        needs=("torch", "transformers", "sentence_transformers"),
        extra="torch",
        devices=("cpu", "cuda", "mps"),
    ),
    Engine(
        "openvino",
        "OpenVINO on the CPU (Intel's runtime): the same exact float32 graph as ONNX Runtime, compiled by OpenVINO",
        module="embeddinggemma._engines.openvino",
        needs=("openvino",),
        extra="openvino",
    ),
    Engine(
        "llama.cpp",
        "llama.cpp in process, on GGUF files (built from the folder, or one you pass)",
        module="embeddinggemma._engines.gguf",
        needs=("llama_cpp", "gguf"),
        extra="gguf",
        runs_float=False,
        model_files=(".gguf",),
    ),
)

ARTIFACT_TABLE: tuple[Artifact, ...] = (
    Artifact("q8_0", "llama.cpp", "q8_0", "GGUF with 8-bit blocks, run by llama.cpp (its install needs a compiler)"),
    Artifact(
        "q4_0",
        "llama.cpp",
        "q4_0",
        "GGUF with 4-bit blocks (attention values, MLP down projections and Dense layers at 8-bit), llama.cpp",
    ),
    Artifact(
        "int8", "onnxruntime", "int8", "ONNX Runtime with block-wise 8-bit weights (no compiler): as exact as q8_0"
    ),
    Artifact(
        "int4",
        "onnxruntime",
        "int4",
        "ONNX Runtime with block-wise 4-bit weights, v/o/down at 8 bits (no compiler): the smallest without one",
    ),
    Artifact(
        "onnx-f32", "onnxruntime", "f32", "the exact float32 ONNX graph the default engine runs", quantization=False
    ),
    Artifact("f32", "llama.cpp", "f32", "float32 GGUF (for llama-server or Ollama)", quantization=False),
    Artifact("f16", "llama.cpp", "f16", "float16 GGUF (for llama-server or Ollama)", quantization=False),
)

BACKENDS = tuple(backend.name for backend in BACKEND_TABLE)
"""Where the model runs: ``local`` (this process), or an Ollama or OpenAI-compatible server."""
ENGINES = (AUTO, *(engine.name for engine in ENGINE_TABLE))
"""Which engine runs a local model; ``auto`` chooses by the hardware."""
QUANTIZATIONS = tuple(artifact.name for artifact in ARTIFACT_TABLE if artifact.quantization)
"""The ``quantization=`` choices (``None`` is the exact float path)."""
ARTIFACTS = {artifact.name: artifact for artifact in ARTIFACT_TABLE}
"""Every artifact the command line builds, by name."""


def backend(name: str) -> Backend:
    return next(row for row in BACKEND_TABLE if row.name == name)


def engine(name: str) -> Engine:
    return next(row for row in ENGINE_TABLE if row.name == name)


def quantization_engine(quantization: str) -> str:
    """The engine that runs ``quantization``."""
    return ARTIFACTS[quantization].engine


def engine_for_file(path: str) -> Engine | None:
    """The engine that runs a single-file model at ``path`` (a ``.gguf``), or None for a folder or hub id."""
    lowered = path.lower()
    return next((row for row in ENGINE_TABLE if row.model_files and lowered.endswith(row.model_files)), None)


def artifacts_of(engine_name: str) -> tuple[Artifact, ...]:
    return tuple(row for row in ARTIFACT_TABLE if row.engine == engine_name)
