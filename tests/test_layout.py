"""Data flows one way: no nbgraph module imports, directly or not, a module that imports it back."""

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "nbgraph"

#: known and left for now: the zygote imports its child's entry point lazily, after forking
KNOWN_CYCLES = [{"nbgraph.kernels.fork.zygote", "nbgraph.kernels.fork.child"}]


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, module_level_only: bool) -> set[str]:
    """The nbgraph modules ``path`` imports (submodules named in ``from x import y`` included)."""
    name = _module(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _graph(*, module_level_only: bool) -> nx.DiGraph:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(path, module_level_only=module_level_only):
            if target in modules and target != name and not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def test_module_level_imports_have_no_cycle():
    cycles = list(nx.simple_cycles(_graph(module_level_only=True)))
    assert not cycles, [" -> ".join(c + [c[0]]) for c in cycles]


def test_no_cycle_even_through_imports_inside_functions():
    cycles = [c for c in nx.simple_cycles(_graph(module_level_only=False)) if set(c) not in KNOWN_CYCLES]
    assert not cycles, [" -> ".join(c + [c[0]]) for c in cycles]
