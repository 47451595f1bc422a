"""The binding (rust/python/src) is layered bottom up with no import cycle:
a module uses only modules of the layers below it, and no file reaches
itself through `crate::` paths. The order is the one `lib.rs` states."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "rust" / "python" / "src"

# Bottom up; a top-level module may use only those of earlier layers.
LAYERS = [
    {"errors"},
    {"export", "meta", "stats", "metrics"},
    {"pinned"},
    {"input", "wait"},
    {"ops", "checkpoint", "cli"},
]
CRATE_PATH = re.compile(r"crate::((?:[a-z_]+::)*[a-z_]+)")


def _module_of(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[:-1] if parts[-1] == "mod" else parts


def _modules() -> dict[tuple[str, ...], Path]:
    return {_module_of(p): p for p in SRC.rglob("*.rs") if p.name != "lib.rs"}


def _uses(path: Path, modules: dict[tuple[str, ...], Path]) -> set[tuple[str, ...]]:
    """The modules `path` names through `crate::...` (outside `//` comments)."""
    code = "\n".join(line.split("//")[0] for line in path.read_text().splitlines())
    # `use crate::a::{b, c::d}` names a::b and a::c::d.
    for group in re.finditer(r"crate::((?:[a-z_]+::)*)\{([^}]*)\}", code):
        code += "".join(f"\ncrate::{group[1]}{item.strip()}" for item in group[2].split(","))
    found = set()
    for match in CRATE_PATH.finditer(code):
        parts = tuple(match[1].split("::"))
        # The longest prefix that is a module (the rest names an item).
        for n in range(len(parts), 0, -1):
            if parts[:n] in modules:
                found.add(parts[:n])
                break
    found.discard(_module_of(path))
    return found


def test_every_module_uses_only_lower_layers():
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    modules = _modules()
    assert {m[0] for m in modules} == set(layer), "a module missing from LAYERS"
    for module, path in modules.items():
        for used in _uses(path, modules):
            if used[0] != module[0]:
                assert layer[used[0]] < layer[module[0]], f"{path.name} uses {'::'.join(used)}"


def test_no_module_reaches_itself():
    modules = _modules()
    graph = {m: _uses(p, modules) for m, p in modules.items()}
    state: dict[tuple[str, ...], str] = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycle = [*trail[trail.index(nxt) :], nxt]
                raise AssertionError("cycle: " + " -> ".join("::".join(m) for m in cycle))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])


def test_no_file_is_over_500_lines_of_non_test_code():
    for path in SRC.rglob("*.rs"):
        code = path.read_text().split("#[cfg(test)]")[0]
        assert len(code.splitlines()) <= 500, path
