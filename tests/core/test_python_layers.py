"""No import cycle among the modules of the Python packages (s3dlio,
s3dlio_torch, s3dlio_jax): every import, at module level or inside a
function, is an edge, and the graph must have no cycle. A package's
``__init__`` re-exporting its submodules is the one allowed direction: a
submodule importing its own package's ``__init__`` closes a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("s3dlio", "s3dlio_torch", "s3dlio_jax")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    found["s3dlio._core"] = ROOT / "s3dlio" / "_core.pyi"  # the extension: imports nothing
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    if path.suffix == ".pyi":
        return set()
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from a import b` uses a.b when it is a module, else a itself.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            continue
        targets |= {n for n in names if n in modules}
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_python_packages_have_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_check_finds_a_cycle():
    graph = _graph()
    graph["s3dlio._aio"] = graph["s3dlio._aio"] | {"s3dlio"}  # imports its package
    assert _cycle(graph) is not None
    assert "s3dlio._core" in graph["s3dlio._aio"]  # `from s3dlio import _core` is seen
