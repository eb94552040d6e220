"""Data flows one way: no nbgraph module imports, directly or not, a module that imports it back;
and every module and function is small enough to read in one sitting."""

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "nbgraph"

MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60

#: functions allowed over the limit while they wait to be split (none: keep it so)
TOO_LONG_FOR_NOW: set[str] = set()


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
    cycles = list(nx.simple_cycles(_graph(module_level_only=False)))
    assert not cycles, [" -> ".join(c + [c[0]]) for c in cycles]


def _sources() -> list[tuple[str, str]]:
    return [(p.relative_to(PACKAGE.parent).as_posix(), p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, lines from ``def`` to its last line) of every function, nested ones too."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node.end_lineno - node.lineno + 1
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from _functions(node, prefix + node.name + ".")


def test_no_module_is_longer_than_a_sitting():
    long = [f"{path}: {len(text.splitlines())} lines" for path, text in _sources()
            if len(text.splitlines()) > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_is_longer_than_a_screen():
    found = {f"{path}:{name}": lines for path, text in _sources() for name, lines in _functions(ast.parse(text))}
    long = [f"{name} ({lines} lines)" for name, lines in found.items()
            if lines > MAX_FUNCTION_LINES and name not in TOO_LONG_FOR_NOW]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
    done = sorted(name for name in TOO_LONG_FOR_NOW if found.get(name, 0) <= MAX_FUNCTION_LINES)
    assert not done, f"split or gone: remove from TOO_LONG_FOR_NOW: {done}"
