"""The package's shape: no import cycles, lower layers never import higher ones.

Every import counts, also those inside functions (they are dependencies all the same); only
`if TYPE_CHECKING:` blocks are skipped. `from pkg import name` depends on the module pkg.name
when that is a module, else on pkg itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "edgeeval"

# (layer, modules it must never import): the lower layers know nothing of the higher ones
FORBIDDEN = {
    "edgeeval.evaluate": ("edgeeval.store", "edgeeval.recipes", "edgeeval.reference", "edgeeval.transport",
                          "edgeeval.agentclient", "edgeeval.pipeline", "edgeeval.cli", "edgeeval.devices"),
    "edgeeval.power": ("edgeeval.store", "edgeeval.recipes", "edgeeval.reference", "edgeeval.evaluate",
                       "edgeeval.pipeline", "edgeeval.cli"),
    "edgeeval.store": ("edgeeval.evaluate", "edgeeval.recipes", "edgeeval.reference", "edgeeval.transport",
                       "edgeeval.agentclient", "edgeeval.pipeline", "edgeeval.cli", "edgeeval.power"),
    "edgeeval.errors": ("edgeeval.store", "edgeeval.evaluate", "edgeeval.recipes", "edgeeval.transport",
                        "edgeeval.pipeline", "edgeeval.cli"),
    "edgeeval.reference": ("edgeeval.store", "edgeeval.transport", "edgeeval.agentclient", "edgeeval.pipeline",
                           "edgeeval.cli", "edgeeval.source_kinds"),
    "edgeeval.recipes": ("edgeeval.store", "edgeeval.transport", "edgeeval.agentclient", "edgeeval.pipeline",
                         "edgeeval.cli", "edgeeval.reference", "edgeeval.source_kinds"),
    "edgeeval.transport": ("edgeeval.store", "edgeeval.recipes", "edgeeval.evaluate", "edgeeval.pipeline",
                           "edgeeval.cli", "edgeeval.agentclient"),
    "edgeeval.agentclient": ("edgeeval.pipeline", "edgeeval.cli", "edgeeval.store"),
    "edgeeval.pipeline": ("edgeeval.cli", "edgeeval.farm"),
    "edgeeval.farm": ("edgeeval.cli",),
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _type_checking(node: ast.AST) -> bool:
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        edges = set()
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    pkg = ".".join(base + ([node.module] if node.module else []))
                else:
                    pkg = node.module or ""
                targets = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in mods else pkg for a in node.names]
            edges.update(t for t in targets if t in mods and t != mod)
        graph[mod] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(import_graph()) == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(layer):
    bad = []
    for mod, edges in import_graph().items():
        if mod == layer or mod.startswith(layer + "."):
            for target in edges:
                if any(target == f or target.startswith(f + ".") for f in FORBIDDEN[layer]):
                    bad.append(f"{mod} imports {target}")
    assert bad == []


@pytest.mark.parametrize("leaf", ["edgeeval.rawdata", "edgeeval.registry", "edgeeval.scrub", "edgeeval.paths"])
def test_leaf_modules_import_nothing_of_edgeeval(leaf):
    assert import_graph()[leaf] == set()
