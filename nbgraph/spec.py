"""inheritance.yaml -> frozen dataclasses, validated before anything runs.

Every problem becomes a :class:`SpecError` whose one line names the file, the line, the
node and the field, and says what is expected.  Paths resolve against the YAML file's
folder, never the current directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import CycleError, SpecError
from .names import canonical, format_value, node_name_problem
from .specfields import PARAM_RE  # noqa: F401  (nbgraph add checks names with it too)
from .specfields import check_notebook, check_param, check_retries, opt_address, opt_str, opt_timeout
from .specfile import read_spec_file

DEFAULT_SPEC = "inheritance.yaml"

#: Top-level keys and what they hold.
TOP_KEYS = {
    "notebooks": "mapping of node name -> node",
    "build_dir": "folder or fsspec URL (s3://bucket/prefix) for executed notebooks and snapshots (default: build/ beside the YAML)",
    "storage_options": "options for the fsspec filesystem of a build_dir URL (e.g. endpoint_url, profile)",
    "executor": "where variants run: local (default) or dask",
    "scheduler": "address of the Dask scheduler for executor: dask (e.g. tcp://10.0.0.5:8786)",
    "kernel": "default kernel name for every node",
    "timeout": "default per-cell timeout in seconds",
    "fork": "false: children start fresh kernels instead of forking from their parent's state (default true)",
}

#: Node keys; the names are a contract (see the README).
NODE_KEYS = {
    "path": "the notebook, relative to the YAML file's folder",
    "parent": "one parent node name",
    "parents": "list of parent node names, merged in order (later wins)",
    "params": "fixed papermill parameters (mapping)",
    "grid": "mapping parameter -> list of values; the cartesian product gives the variants",
    "kernel": "kernel name",
    "timeout": "seconds per cell",
    "exclude": "variable names not passed down to children",
    "attach": "take state from the live kernel of this notebook",
    "snapshot": "false: do not snapshot this node (it cannot then have children)",
    "strict": "true: fail when a variable cannot be snapshotted (instead of skipping it)",
    "retries": "how many times to re-run a failed variant of this node (default 0)",
}

EXECUTORS = ("local", "dask")

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class NodeSpec:
    """One notebook of the graph, as declared."""

    name: str
    path: Path
    parents: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    kernel: str | None = None
    timeout: float | None = None
    exclude: tuple[str, ...] = ()
    attach: bool = False
    snapshot: bool = True
    strict: bool = False
    line: int | None = None
    retries: int = 0


@dataclass(frozen=True)
class Spec:
    """A whole validated inheritance.yaml."""

    file: Path
    nodes: Mapping[str, NodeSpec]
    build_dir: Path
    kernel: str | None = None
    timeout: float | None = None
    fork: bool = True
    #: the build location as written when it is a URL; ``build_dir`` is then its local mirror
    build_url: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    executor: str | None = None
    scheduler: str | None = None

    @property
    def build_location(self) -> str:
        """What records and jobs refer to: the URL of a remote build location, else the folder."""
        return self.build_url or str(self.build_dir)

    @property
    def root(self) -> Path:
        return self.file.parent

    def node_kernel(self, node: NodeSpec) -> str | None:
        return node.kernel or self.kernel

    def node_timeout(self, node: NodeSpec) -> float | None:
        return node.timeout if node.timeout is not None else self.timeout

    def no_such_node(self, name: str, option: str) -> str:
        """The one line for a node named on the command line (``--only``, ``--node``...) that this spec lacks."""
        return f"{option} {name}: no such node in {self.file.name}; known nodes: {', '.join(self.nodes)}"


def load_spec(path: str | Path = DEFAULT_SPEC) -> Spec:
    """Read and validate a spec; raises :class:`SpecError` with a single actionable line."""
    file = Path(path).expanduser().resolve()
    if file.is_dir():
        file = file / DEFAULT_SPEC
    data, key_lines = read_spec_file(file)
    return _validate(file, data, key_lines)


def _validate(file: Path, data: Any, key_lines: dict[int, dict[Any, int]]) -> Spec:
    if data is None:
        raise SpecError.at(file, "the file is empty; it needs a 'notebooks:' mapping, "
                                 "e.g. notebooks: {load: {path: load.ipynb}}", line=1)
    if not isinstance(data, dict):
        raise SpecError.at(file, "the top level must be a mapping with a 'notebooks:' key", line=1)
    top_lines = key_lines.get(id(data), {})

    def err(message: str, *, line=None, node=None, field=None) -> SpecError:
        return SpecError.at(file, message, line=line, node=node, field=field)

    for key in data:
        if key not in TOP_KEYS:
            raise err(f"unknown top-level key '{key}'; expected one of: {', '.join(TOP_KEYS)}", line=top_lines.get(key))
    notebooks = data.get("notebooks")
    if not isinstance(notebooks, dict) or not notebooks:
        raise err("'notebooks:' must map node names to nodes, e.g. notebooks: {load: {path: load.ipynb}}", line=top_lines.get("notebooks", 1))

    root = file.parent
    build = data.get("build_dir", "build")
    if not isinstance(build, str) or not build.strip():
        raise err("must be a folder path (string)", field="build_dir", line=top_lines.get("build_dir"))
    build_url = None
    if build.startswith("file://"):
        build = build[len("file://"):]
    from .store import is_url, mirror_dir

    if is_url(build):
        build_url = build.rstrip("/")
        build_dir = mirror_dir(build_url)
    else:
        build_dir = (root / Path(build).expanduser()).resolve()
    storage_options = data.get("storage_options") or {}
    if not isinstance(storage_options, dict):
        raise err("must be a mapping of fsspec options, e.g. storage_options: {endpoint_url: http://...}",
                  field="storage_options", line=top_lines.get("storage_options"))
    if storage_options and build_url is None:
        raise err("only applies to a build_dir URL (s3://...); remove it or make build_dir a URL",
                  field="storage_options", line=top_lines.get("storage_options"))
    executor = data.get("executor")
    if executor is not None and executor not in EXECUTORS:
        raise err(f"must be one of: {', '.join(EXECUTORS)}", field="executor", line=top_lines.get("executor"))
    scheduler = opt_address(data.get("scheduler"), lambda m: err(m, field="scheduler", line=top_lines.get("scheduler")))
    kernel = opt_str(data.get("kernel"), lambda m: err(m, field="kernel", line=top_lines.get("kernel")))
    timeout = opt_timeout(data.get("timeout"), lambda m: err(m, field="timeout", line=top_lines.get("timeout")))
    fork = data.get("fork", True)
    if not isinstance(fork, bool):
        raise err("must be true or false (false: children start fresh kernels)", field="fork", line=top_lines.get("fork"))

    node_lines = key_lines.get(id(notebooks), {})
    nodes: dict[str, NodeSpec] = {}
    folded: dict[str, str] = {}
    for name, raw in notebooks.items():
        line = node_lines.get(name)
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise err(f"node name {name!r} must start with a letter or _ and use only letters, digits, _ . -", line=line)
        problem = node_name_problem(name)
        if problem:
            raise err(f"node name '{name if len(name) <= 60 else name[:40] + '...'}' {problem}", line=line)
        same = folded.setdefault(name.casefold(), name)
        if same != name:
            raise err(f"node names '{same}' and '{name}' differ only in case; their build folders would be one "
                      "on a case-insensitive file system (macOS, Windows): rename one", line=line)
        nodes[name] = _validate_node(file, name, raw, line, key_lines.get(id(raw), {}))

    for node in nodes.values():
        for parent in node.parents:
            if parent not in nodes:
                known = ", ".join(sorted(nodes))
                raise err(f"unknown parent '{parent}'; known nodes: {known}", node=node.name,
                          field="parents" if len(node.parents) > 1 else "parent", line=node.line)
            if not nodes[parent].snapshot:
                raise err(f"parent '{parent}' has 'snapshot: false', so it cannot have children; remove that line",
                          node=node.name, field="parent", line=node.line)
    _check_cycles(file, nodes)
    _check_grid_keys(file, nodes)
    return Spec(file=file, nodes=nodes, build_dir=build_dir, kernel=kernel, timeout=timeout, build_url=build_url,
                storage_options=dict(storage_options), executor=executor, scheduler=scheduler, fork=fork)


def _validate_node(file: Path, name: str, raw: Any, line: int | None, lines: dict[Any, int]) -> NodeSpec:
    def err(message: str, fld: str | None = None) -> SpecError:
        return SpecError.at(file, message, line=lines.get(fld, line) if fld else line, node=name, field=fld)

    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        raise err("must be a mapping with at least 'path: notebook.ipynb'")
    for key in raw:
        if key not in NODE_KEYS:
            raise err(f"unknown key '{key}'; expected one of: {', '.join(NODE_KEYS)}", key if isinstance(key, str) else None)
    if "path" not in raw:
        raise err("'path' is required: the notebook file, relative to the YAML file's folder", None)
    rel = raw["path"]
    if not isinstance(rel, str) or not rel.strip():
        raise err("must be a notebook path (string)", "path")
    path = (file.parent / Path(rel).expanduser()).resolve()
    if path.is_dir():
        raise err(f"'{rel}' is a folder; give the notebook's file, e.g. {rel.rstrip('/')}/name.ipynb", "path")
    if not path.is_file():
        raise err(f"notebook '{rel}' does not exist (looked for {path})", "path")
    check_notebook(path, lambda m: err(m, "path"))

    if "parent" in raw and "parents" in raw:
        raise err("use either 'parent' or 'parents', not both", "parents")
    if "parent" in raw:
        parent = raw["parent"]
        if not isinstance(parent, str):
            raise err("must be one node name; for several use 'parents: [a, b]'", "parent")
        parents: tuple[str, ...] = (parent,)
    else:
        plist = raw.get("parents", [])
        if isinstance(plist, str):
            plist = [plist]
        if not isinstance(plist, list) or not all(isinstance(p, str) for p in plist):
            raise err("must be a list of node names, e.g. parents: [load, features]", "parents")
        if len(set(plist)) != len(plist):
            raise err("lists the same parent twice", "parents")
        parents = tuple(plist)
    if name in parents:
        raise _cycle_error(file, [name, name], line)

    params = raw.get("params", {}) or {}
    if not isinstance(params, dict):
        raise err("must be a mapping of parameter -> value, e.g. params: {seed: 0}", "params")
    for key, value in params.items():
        check_param(key, value, lambda m: err(m, "params"))

    grid_raw = raw.get("grid", {}) or {}
    if not isinstance(grid_raw, dict):
        raise err("must be a mapping of parameter -> list of values, e.g. grid: {alpha: [0.1, 1.0]}", "grid")
    grid = []
    for key, values in grid_raw.items():
        if not isinstance(values, list):
            raise err(f"values of '{key}' must be a list, e.g. {key}: [{values!r}]", "grid")
        if not values:
            raise err(f"values of '{key}' is an empty list; give at least one value", "grid")
        for value in values:
            check_param(key, value, lambda m: err(m, "grid"))
        if len({canonical(v) for v in values}) != len(values):
            raise err(f"values of '{key}' repeat a value; each variant must be distinct", "grid")
        shown = [v if isinstance(v, str) else format_value(v) for v in values]
        clash = next((v for v in shown if shown.count(v) > 1), None)
        if clash is not None:  # names tell them apart (x=1, x="1"), a reader would not
            raise err(f"values of '{key}' include {clash} both as a string and as a number; "
                      f"their variants would be told apart only by quotes: write them one way", "grid")
        if key in params:
            raise err(f"'{key}' is both in params and in grid; keep it in one", "grid")
        grid.append((key, tuple(values)))

    kernel = opt_str(raw.get("kernel"), lambda m: err(m, "kernel"))
    timeout = opt_timeout(raw.get("timeout"), lambda m: err(m, "timeout"))
    exclude = raw.get("exclude", []) or []
    if isinstance(exclude, str):
        exclude = [exclude]
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise err("must be a list of variable names, e.g. exclude: [raw_df]", "exclude")
    attach = raw.get("attach", False)
    if not isinstance(attach, bool):
        raise err("must be true or false", "attach")
    snapshot = raw.get("snapshot", True)
    if not isinstance(snapshot, bool):
        raise err("must be true or false", "snapshot")
    strict = raw.get("strict", False)
    if not isinstance(strict, bool):
        raise err("must be true or false", "strict")
    retries = check_retries(raw.get("retries", 0), lambda m: err(m, "retries"))
    if attach:
        _check_attached(raw, err)
    return NodeSpec(name=name, path=path, parents=parents, params=dict(params), grid=tuple(grid),
                    kernel=kernel, timeout=timeout, exclude=tuple(exclude), attach=attach,
                    snapshot=snapshot, strict=strict, line=line, retries=retries)


#: keys that mean nothing for a notebook nbgraph does not execute, and why
_NOT_WITH_ATTACH = {
    "parent": "it takes its whole state from its live kernel, so it cannot have parents "
              "(in Jupyter, its notebook may call inherit_from itself)",
    "parents": "it takes its whole state from its live kernel, so it cannot have parents "
               "(in Jupyter, its notebook may call inherit_from itself)",
    "params": "its notebook is not executed, so there is nothing to parameterise",
    "grid": "its notebook is not executed, so it has no variants",
    "kernel": "it uses the kernel its notebook already has open",
    "retries": "its notebook is not executed, so there is nothing to retry",
}


def _check_attached(raw: Mapping[str, Any], err) -> None:
    for key, why in _NOT_WITH_ATTACH.items():
        if key in raw:
            raise err(f"'{key}' does not apply with 'attach: true': {why}; remove one of them", key)
    if raw.get("snapshot") is False:
        raise err("an attached node exists to pass its live state down; remove 'snapshot: false'", "snapshot")


def _cycle_error(file: Path, cycle: list[str], line: int | None) -> CycleError:
    where = f"{file}:{line}" if line else f"{file}"
    return CycleError(f"{where}: cycle in parents: {' -> '.join(cycle)}; a notebook cannot inherit from its own descendants",
                      file=str(file), line=line, node=cycle[0], field="parent", cycle=cycle)


def _check_cycles(file: Path, nodes: Mapping[str, NodeSpec]) -> None:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((p, n.name) for n in nodes.values() for p in n.parents)
    try:
        edges = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return
    cycle = [u for u, _ in edges] + [edges[0][0]]
    raise _cycle_error(file, cycle, nodes[cycle[0]].line)


def _check_grid_keys(file: Path, nodes: Mapping[str, NodeSpec]) -> None:
    """A grid key must name one thing along a lineage, or variant names would be ambiguous."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_edges_from((p, n.name) for n in nodes.values() for p in n.parents)
    for node in nodes.values():
        own = {k for k, _ in node.grid}
        if not own or node.name not in g:
            continue
        for anc in nx.ancestors(g, node.name):
            clash = own & {k for k, _ in nodes[anc].grid}
            if clash:
                key = sorted(clash)[0]
                raise SpecError.at(file, f"grid key '{key}' is already a grid key of ancestor '{anc}'; rename one of them",
                                   line=node.line, node=node.name, field="grid")
