"""The package's import graph: layers only import downwards, and no group of modules imports
itself in a circle. Read from the source (every import, also those inside functions and under
TYPE_CHECKING), so a newcomer can read the data's way through the program off the file list."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "xmpvision"

# Lowest first. A unit is a top-level module or subpackage of xmpvision.
LAYERS: list[set[str]] = [
    {"errors", "results", "sources", "runmodes", "text", "modeltypes", "people"},
    {"config"},
    {"discover", "prepare"},
    {"engines", "sidecar", "state", "runlock", "report"},
    {"chain", "health"},
    {"pipeline", "listing"},
    {"jobs"},
    {"daemon"},
    {"cli", "__main__"},
]
LAYER_OF = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                yield ".".join([*base, node.module] if node.module else base)
            elif node.module:
                yield node.module


def _edges() -> list[tuple[str, str, str]]:
    """(importing module, imported module, where) for every import inside the package."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _module_name(path)
        for target in _imports(path):
            if target == "xmpvision" or target.startswith("xmpvision."):
                edges.append((source, target, str(path.relative_to(PACKAGE.parent))))
    return edges


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert units <= set(LAYER_OF), f"give these a layer: {sorted(units - set(LAYER_OF))}"


def test_imports_only_go_down() -> None:
    upward = [
        f"{where}: {source} imports {target}"
        for source, target, where in _edges()
        if _unit(target) != "__init__" and _unit(source) != "__init__"
        and LAYER_OF.get(_unit(source), 0) < LAYER_OF.get(_unit(target), 0)
    ]
    assert upward == []


def _circles(graph: dict[str, set[str]]) -> list[str]:
    """Every back edge a depth-first search meets, as the circle it closes."""
    circles: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                start = trail.index(nxt) if nxt in trail else len(trail)
                circles.append(" -> ".join([*trail[start:], node, nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return circles


def test_no_circle_between_units() -> None:
    graph: dict[str, set[str]] = {}
    for source, target, _ in _edges():
        a, b = _unit(source), _unit(target)
        if a != b and "__init__" not in (a, b):
            graph.setdefault(a, set()).add(b)
    assert _circles(graph) == []


def test_top_level_stays_small() -> None:
    modules = [p for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(modules) <= 12, sorted(p.name for p in modules)


def _resolved(target: str, modules: set[str]) -> str | None:
    """The module an import names (`from xmpvision.x import name` may name a function)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def test_no_circle_between_modules() -> None:
    """Inside a subpackage too: a circle hidden by an import inside a function is still one
    (the module that needs the other half cannot be read, or tested, on its own)."""
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for source, target, _ in _edges():
        resolved = _resolved(target, modules)
        # A package's __init__ re-exports its modules: importing it is importing them.
        if resolved and resolved != source and not (PACKAGE.parent / resolved.replace(
                ".", "/") / "__init__.py").exists() and not source.endswith("__init__"):
            graph.setdefault(source, set()).add(resolved)
    assert _circles(graph) == []
