"""``nbgraph add``: grow the graph from the command line, keeping the user's YAML as written.

The node is appended with a round-trip YAML library, so comments, key order, quoting and
flow lists survive.  A notebook that does not exist yet is created with an ``inherit_from(...)`` cell
and a parameters cell, ready for interactive work in JupyterLab.  The new YAML
is checked with the same validation as ``nbgraph run`` before it replaces the old file.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import NbgraphError, SpecError
from .fsutil import atomic_write_text
from .nbfile import TEXT_FORMATS, read_notebook
from .spec import NAME_RE, PARAM_RE, Spec, load_spec
from .spec.load import PlainLoader


@dataclass
class Added:
    name: str
    notebook: Path
    created: bool
    spec: Spec


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]] | list[dict[str, list[Any]]]:
    """``["model=ridge,forest", "alpha=0.1,1"]`` -> ``{"model": ["ridge", "forest"], "alpha": [0.1, 1]}``.

    Values are read as YAML scalars, so numbers and booleans keep their types, and a date
    stays the string written, as in the YAML itself (:class:`~nbgraph.spec.load.PlainLoader`).
    One ``--grid`` may instead hold the grid as the YAML writes it, a list of mappings
    (``[{model: [svm], C: [0.1, 1]}, {model: [forest]}]``) or a mapping in braces; the
    spec's validation then checks it as it checks the file.
    """
    if any(item.lstrip()[:1] in ("[", "{") for item in items):
        if len(items) > 1:
            raise SpecError("--grid: a grid written as YAML ('[{...}, {...}]' or '{...}') is the only --grid; "
                            "put every parameter in it", field="grid")
        return _yaml_grid(items[0])
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not PARAM_RE.match(key) or not values.strip():
            raise SpecError(f"--grid {item}: expected NAME=V1,V2 with a Python identifier as NAME, e.g. --grid alpha=0.1,1.0"
                            " (or one --grid '[{model: [svm], C: [0.1, 1]}, {model: [forest]}]' for a list grid)",
                            field="grid")
        if key in grid:
            raise SpecError(f"--grid {key}: given twice; put every value in one --grid {key}=V1,V2", field="grid")
        parsed = [_scalar(f"--grid {key}", raw) for raw in values.split(",")]
        if len(set(map(json.dumps, parsed))) != len(parsed):
            raise SpecError(f"--grid {item}: a value is listed twice", field="grid")
        grid[key] = parsed
    return grid


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``["seed=0", "cols=[a, b]"]`` -> ``{"seed": 0, "cols": ["a", "b"]}``: each value one YAML value."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not PARAM_RE.match(key) or not raw.strip():
            raise SpecError(f"--params {item}: expected NAME=VALUE with a Python identifier as NAME, e.g. --params seed=0",
                            field="params")
        if key in params:
            raise SpecError(f"--params {key}: given twice; give it once", field="params")
        params[key] = _scalar(f"--params {key}", raw, flow=True)
    return params


def _scalar(option: str, raw: str, *, flow: bool = False) -> Any:
    """One value as the YAML would read it; a list or mapping only where ``flow`` (else the text as is)."""
    import yaml

    field = "params" if flow else "grid"
    if "\n" in raw or "\r" in raw:
        raise SpecError(f"{option}: a value spans several lines; give each value on one line", field=field)
    try:
        value = yaml.load(raw.strip(), Loader=PlainLoader)
    except yaml.YAMLError:
        value = raw.strip()
    if value is None or (not flow and isinstance(value, (dict, list))):
        value = raw.strip()
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise SpecError(f"{option}={raw.strip()}: not plain data (string, number, bool, list, mapping); "
                        "drop the YAML tag", field=field) from None
    return value


def _yaml_grid(text: str) -> dict[str, list[Any]] | list[dict[str, list[Any]]]:
    import yaml

    try:
        grid = yaml.load(text, Loader=PlainLoader)
    except yaml.YAMLError as e:
        raise SpecError(f"--grid {text}: not readable as YAML ({getattr(e, 'problem', None) or e}); "
                        "write it as in the spec, e.g. '[{model: [svm], C: [0.1, 1]}, {model: [forest]}]'",
                        field="grid") from None
    try:
        json.dumps(grid)
    except (TypeError, ValueError):
        raise SpecError(f"--grid {text}: not plain data (strings, numbers, lists, mappings); drop the YAML tags",
                        field="grid") from None
    return grid


def add_node(spec_path: str | Path, notebook: str | Path, parent: str, *, grid: Sequence[str] = (),
             params: Sequence[str] = (), name: str | None = None, cwd: Path | None = None) -> Added:
    """Append a node under ``parent`` to the spec; create its notebook if it does not exist.

    ``grid`` and ``params`` are as the command line gives them (:func:`parse_grid`, :func:`parse_params`).
    ``notebook`` is relative to ``cwd`` (the current folder, as a shell path is), and goes
    into the YAML relative to the spec's folder.  A notebook that does not exist is created
    only inside the spec's folder, so that nbgraph never makes folders elsewhere.
    """
    spec = load_spec(spec_path)
    here = Path(cwd) if cwd is not None else Path.cwd()
    nb_path = (here / Path(notebook).expanduser()).resolve()
    if nb_path.suffix != ".ipynb" and nb_path.suffix not in TEXT_FORMATS:
        raise SpecError(f"{notebook}: a notebook path must end in .ipynb, .py (a percent-format script) "
                        "or .md (MyST)", field="path")
    if not nb_path.exists() and spec.root not in nb_path.parents:
        raise SpecError(f"{notebook}: {nb_path} does not exist and is outside {spec.root}, the folder of "
                        f"{spec.file.name}; nbgraph add creates notebooks only there: choose a path under it, "
                        "or create the notebook first", field="path")
    name = name or nb_path.stem
    if not NAME_RE.fullmatch(name):  # match() would let "a\n" through ($ matches before a newline)
        raise SpecError(f"{spec.file.name}: node name {name!r} is not allowed (letters, digits, _ . -; "
                        "not starting with a digit); choose one with --name", node=name)
    if name in spec.nodes:
        line = spec.nodes[name].line
        where = f" (line {line})" if line else ""
        raise SpecError(f"{spec.file.name}{where}: a node named '{name}' already exists; choose another with --name",
                        node=name)
    if parent not in spec.nodes:
        raise SpecError(spec.no_such_node(parent, "--parent"), node=name, field="parent")
    grid_values, fixed = parse_grid(grid), parse_params(params)
    parent_nb = spec.nodes[parent].path
    rel = Path(os.path.relpath(nb_path, spec.root)).as_posix()

    text = spec.file.read_text(encoding="utf-8")
    new_text = _append_node(text, spec.file, name, {"path": rel, "parent": parent, "params": fixed, "grid": grid_values})
    created = not nb_path.exists()
    if created:
        write_child_notebook(nb_path, parent_nb, {**fixed, **_first_values(grid_values)})
    try:
        _validated(spec.file, new_text)
    except NbgraphError:
        if created:
            nb_path.unlink(missing_ok=True)
        raise
    atomic_write_text(spec.file, new_text)
    return Added(name=name, notebook=nb_path, created=created, spec=load_spec(spec.file))


def _append_node(text: str, file: Path, name: str, keys: dict[str, Any]) -> str:
    """The YAML with the node appended: its ``keys`` in order, the empty ones left out, values in flow style."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    _, indent, block_seq_indent = load_yaml_guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=indent or 2, sequence=(indent or 2) + (block_seq_indent or 0), offset=block_seq_indent or 0)
    data = yaml.load(text)
    notebooks = data.get("notebooks") if hasattr(data, "get") else None
    if not isinstance(notebooks, dict):
        raise SpecError(f"{file.name}: has no 'notebooks:' mapping to add to", field="notebooks")
    node = _flow({key: value for key, value in keys.items() if value not in ({}, [], None)})
    node.fa.set_block_style()
    notebooks[name] = node
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _flow(value: Any) -> Any:
    """Lists and mappings in YAML's flow style (``{lr: [0.1, 1]}``), as a user writes a grid."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        out: Any = CommentedMap((key, _flow(item)) for key, item in value.items())
    elif isinstance(value, list):
        out = CommentedSeq(_flow(item) for item in value)
    else:
        return value
    out.fa.set_flow_style()
    return out


def _first_values(grid: Any) -> dict[str, Any]:
    """Each grid parameter's first value, for the new notebook's parameters cell (a list grid: first written)."""
    out: dict[str, Any] = {}
    for block in grid if isinstance(grid, list) else [grid]:
        for key, values in block.items() if isinstance(block, dict) else ():
            if isinstance(values, list) and values:
                out.setdefault(key, values[0])
    return out


def _validated(file: Path, text: str) -> None:
    """Load the new YAML from a temporary file beside the real one (paths resolve the same)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{file.stem}.", suffix=".yaml", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            load_spec(tmp)
        except SpecError as e:
            raise SpecError(str(e).replace(Path(tmp).name, file.name), **e.fields) from None
    finally:
        os.unlink(tmp)


def write_child_notebook(path: Path, parent_notebook: Path, defaults: dict[str, Any]) -> None:
    """A new notebook: a title, the cell that inherits the parent's state, a tagged parameters cell
    (``defaults``: each parameter's value there)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    kernelspec = _kernelspec(parent_notebook)
    if kernelspec:
        nb.metadata["kernelspec"] = kernelspec
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {path.stem}\nInherits the kernel state of "
                                                  f"`{parent_notebook.name}`."))
    # inherit first, parameters after: in JupyterLab as in a graph run (where papermill injects
    # the values after the parameters cell), a parameter wins over a parent's variable of that name
    rel_parent = Path(os.path.relpath(parent_notebook, path.parent)).as_posix()
    nb.cells.append(nbformat.v4.new_code_cell(f"from nbgraph import inherit_from\ninherit_from({json.dumps(rel_parent)})"))
    params = "\n".join(f"{k} = {v!r}" for k, v in defaults.items()) or "# parameters (papermill injects values after this cell)"
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell(""))
    if path.suffix in TEXT_FORMATS:  # a text notebook, as jupytext writes it (kernelspec in its header)
        import jupytext

        atomic_write_text(path, jupytext.writes(nb, fmt=TEXT_FORMATS[path.suffix]))
    else:
        atomic_write_text(path, nbformat.writes(nb))  # its folders too, never writable by others


def _kernelspec(notebook: Path) -> dict[str, Any] | None:
    kernelspec = read_notebook(notebook).kernelspec
    return dict(kernelspec) if kernelspec is not None else None
