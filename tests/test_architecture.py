"""The package layout as a contract: no import cycle, every arrow points down, small modules.

Layers, from the bottom (docs/architecture.md draws them):

* the shared vocabulary: errors, records, config, progress, background, fusion;
* ``io/``: every reader and writer of files;
* ``models/``, then ``index/`` and ``engines/``;
* the stages, ``retrieval/`` and ``reranking/``, which never import each other;
* the use cases: ``pipeline``/``searcher`` (both stages composed), then ``evaluation/`` and
  ``training/``; ``datasets/`` (converters) sits on ``io/`` alone;
* the front ends: ``serve/``, then ``cli/``, then ``__main__``.

The graph is built with ``ast`` from every ``import`` in every module of xenc, function-level
imports and ``TYPE_CHECKING`` imports included, so a lazy import cannot hide an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xenc"
MAX_LINES = 400

SHARED = ("xenc.errors", "xenc.records", "xenc.config", "xenc.progress", "xenc.background",
          "xenc.fusion")
USE_CASES = ("xenc.pipeline", "xenc.searcher")
BELOW_STAGES = ("shared", "io", "models", "index", "engines")
LAYERS: dict[str, tuple[str, ...]] = {  # a layer, and the layers it may import besides itself
    "shared": (),
    "io": ("shared",),
    "models": ("shared", "io"),
    "index": ("shared", "io", "models"),
    "engines": ("shared", "io", "models"),
    "retrieval": ("shared", "io", "models", "index"),
    "reranking": BELOW_STAGES,
    "use cases": (*BELOW_STAGES, "retrieval", "reranking"),
    "evaluation": (*BELOW_STAGES, "retrieval", "reranking", "use cases"),
    "training": (*BELOW_STAGES, "use cases", "evaluation"),
    "datasets": ("shared", "io"),
    "serve": (*BELOW_STAGES, "retrieval", "reranking", "use cases"),
    "cli": (*BELOW_STAGES, "retrieval", "reranking", "use cases", "evaluation", "training",
            "datasets", "serve"),
    "main": ("cli",),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The xenc module an import names: itself, or its longest existing prefix."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from xenc.index import store` imports the module xenc.index.store
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "xenc" or target.startswith("xenc."):
                resolved = _resolve(target, modules)
                if resolved and resolved != name:
                    found.add(resolved)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # Importing xenc.a.b runs xenc/a/__init__.py first; `xenc` itself imports lazily.
    return {name: {t for t in targets if t != "xenc"} for name, targets in graph.items()}


def _in(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer(name: str) -> str:
    if _in(name, *SHARED):
        return "shared"
    if _in(name, *USE_CASES):
        return "use cases"
    if name == "xenc.__main__":
        return "main"
    return name.split(".")[1]


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_function_level_imports():
    graph = _graph()
    assert "xenc.index.update" in graph["xenc.pipeline"]  # imported inside build_index
    assert "xenc.models.reranker" in graph["xenc.cli.rerankers"]


def test_no_import_cycle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_every_module_has_a_layer():
    unknown = sorted(name for name in _graph() if name != "xenc" and _layer(name) not in LAYERS)
    assert not unknown, "modules in no layer of LAYERS: " + ", ".join(unknown)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_imports_point_down(layer):
    allowed = {layer, *LAYERS[layer]}
    bad = sorted(
        f"{name} → {target}"
        for name, targets in _graph().items() if name != "xenc" and _layer(name) == layer
        for target in targets if _layer(target) not in allowed
    )
    assert not bad, f"{layer} may import only {sorted(allowed)}: " + ", ".join(bad)


def test_the_stages_are_independent():
    assert "reranking" not in LAYERS["retrieval"] and "retrieval" not in LAYERS["reranking"]


def test_the_rerank_stage_never_sees_an_index():
    """It reads passage text through the Passages protocol (Index.docstore is one)."""
    bad = sorted(t for t in _graph()["xenc.reranking.stage"] if _in(t, "xenc.index"))
    assert not bad, ", ".join(bad)


def test_only_main_imports_the_cli_and_only_the_cli_the_server():
    assert [layer for layer, below in LAYERS.items() if "cli" in below] == ["main"]
    assert [layer for layer, below in LAYERS.items() if "serve" in below] == ["cli"]


def test_a_retriever_is_one_module_and_one_registration():
    """Every module of xenc/retrieval but the shared ones makes one Retriever, registered."""
    from xenc.retrieval.stage import RETRIEVERS

    modules = sorted(p.stem for p in (PACKAGE / "retrieval").glob("*.py")
                     if p.stem not in ("__init__", "base", "stage"))
    found = {}
    for stem in modules:
        module = __import__(f"xenc.retrieval.{stem}", fromlist=["RETRIEVER"])
        found[stem] = module.RETRIEVER
    assert sorted(RETRIEVERS) == sorted(r.name for r in found.values())
    assert all(RETRIEVERS[r.name] is r for r in found.values())


def test_no_module_is_longer_than_400_lines():
    long = {
        name: n for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
