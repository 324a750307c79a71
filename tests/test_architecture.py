"""The package layout as a contract: no import cycle, and every arrow points down.

cli → use cases (pipeline, evaluation, scoring, training, datasets) → stages (retrieve,
rerank) → index/ and models/ → shared vocabulary (errors, records, config, …). The graph
is built with ``ast`` from every ``import`` in every module of xenc, function-level imports
and ``TYPE_CHECKING`` imports included, so a lazy import cannot hide an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xenc"
MAX_LINES = 400


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


UPPER = ("xenc.cli", "xenc.pipeline", "xenc.evaluation", "xenc.reranking", "xenc.training",
         "xenc.datasets", "xenc.retrieval", "xenc.io.output", "xenc.__main__",
         "xenc.engines", "xenc.serve")


def test_engines_use_only_models_and_the_shared_vocabulary():
    bad = sorted(
        f"{name} → {target}"
        for name, targets in _graph().items() if _in(name, "xenc.engines")
        for target in targets
        if _in(target, *UPPER, "xenc.index") and not _in(target, "xenc.engines")
    )
    assert not bad, ", ".join(bad)


@pytest.mark.parametrize("layer", ["xenc.index", "xenc.models"])
def test_index_and_models_never_import_upward(layer):
    bad = sorted(
        f"{name} → {target}"
        for name, targets in _graph().items() if _in(name, layer)
        for target in targets if _in(target, *UPPER)
    )
    assert not bad, "arrows back up: " + ", ".join(bad)


def test_models_never_import_the_index():
    bad = sorted(
        f"{name} → {target}"
        for name, targets in _graph().items() if _in(name, "xenc.models")
        for target in targets if _in(target, "xenc.index")
    )
    assert not bad, ", ".join(bad)


def test_stages_never_import_use_cases_or_cli():
    use_cases = ("xenc.cli", "xenc.pipeline", "xenc.evaluation",
                 "xenc.training", "xenc.datasets")
    bad = sorted(
        f"{name} → {target}"
        for name, targets in _graph().items() if _in(name, "xenc.retrieval", "xenc.reranking")
        for target in targets if _in(target, *use_cases)
    )
    assert not bad, ", ".join(bad)


def test_the_stages_are_independent():
    graph = _graph()
    bad = sorted(
        f"{name} → {target}" for name, targets in graph.items() for target in targets
        if (_in(name, "xenc.retrieval") and _in(target, "xenc.reranking"))
        or (_in(name, "xenc.reranking") and _in(target, "xenc.retrieval"))
    )
    assert not bad, ", ".join(bad)


def test_only_main_imports_the_cli():
    bad = sorted(
        f"{name} → {target}"
        for name, targets in _graph().items() if not _in(name, "xenc.cli", "xenc.__main__")
        for target in targets if _in(target, "xenc.cli")
    )
    assert not bad, ", ".join(bad)


def test_only_the_cli_imports_the_server():
    bad = sorted(
        f"{name} → {target}"
        for name, targets in _graph().items() if not _in(name, "xenc.serve", "xenc.cli.serve")
        for target in targets if _in(target, "xenc.serve")
    )
    assert not bad, ", ".join(bad)


def test_shared_vocabulary_imports_nothing_above_it():
    shared = ("xenc.errors", "xenc.records", "xenc.config", "xenc.progress", "xenc.background",
              "xenc.io")
    graph = _graph()
    bad = sorted(
        f"{name} → {target}"
        for name in graph if _in(name, *shared)
        for target in graph[name] if not _in(target, *shared)
    )
    assert not bad, ", ".join(bad)


def test_no_module_is_longer_than_400_lines():
    long = {
        name: n for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
