"""The import graph of ``src/`` (imports inside functions included): no circles, and no module imports a
layer above its own. The layers are CONTRIBUTING.md's, from the bottom up."""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "data and facts",
        (
            "embeddinggemma._errors",
            "embeddinggemma._inputs",
            "embeddinggemma._prompts",
            "embeddinggemma._families",
            "embeddinggemma._registry",
            "embeddinggemma._threads",
            "embeddinggemma._model_files",
            "embeddinggemma._token_rows",
            "embeddinggemma._drive",
            "embeddinggemma._vector_cache",
        ),
    ),
    ("settings", ("embeddinggemma._settings",)),
    ("tokenizer and chunker", ("embeddinggemma._bpe", "embeddinggemma._tokenizer", "embeddinggemma._chunking")),
    ("engines and servers", ("embeddinggemma._engines", "embeddinggemma._engines.*", "embeddinggemma._servers*")),
    ("runtime resolution", ("embeddinggemma._runtimes",)),
    ("pipeline", ("embeddinggemma._pipeline",)),
    (
        "public surface",
        (
            "embeddinggemma",
            "embeddinggemma.ray",
            "embeddinggemma.quantize",
            "embeddinggemma.cli",
            "embeddinggemma.vector_index",
            "embeddinggemma.__main__",
        ),
    ),
    ("adapters", ("langchain_embeddinggemma*", "llama_index_embeddinggemma*", "llama_index.embeddings.embeddinggemma")),
]


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer_of(module: str) -> int:
    for number, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS here and to CONTRIBUTING.md")


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that ``module`` imports, anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    found = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports(module, path, known) for module, path in known.items()}


def test_every_module_has_a_layer_and_imports_none_above_it():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_there_are_no_import_circles():
    edges = graph()
    circles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append(path[path.index(module) :] + [module])
            return
        if module in done:
            return
        for target in sorted(edges[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
    assert circles == []


def test_the_walker_sees_imports_inside_functions(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def f():\n    from .high import g\n")
    (package / "high.py").write_text("from . import low\n")
    known = {"pkg": package / "__init__.py", "pkg.low": package / "low.py", "pkg.high": package / "high.py"}
    assert imports("pkg.low", package / "low.py", known) == {"pkg.high"}
    assert imports("pkg.high", package / "high.py", known) == {"pkg", "pkg.low"}
