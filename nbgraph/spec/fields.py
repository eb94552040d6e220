"""The keys of inheritance.yaml as data: one row per key says what it holds, how its value is
checked and what it becomes, so a new key is one row (and its line in the README's table).

A row's ``check`` gets the value as written and the :class:`Entry` being read; calling the
entry with a message gives the :class:`SpecError` about that key (file, line, node, field),
so the checks of :mod:`.checks`, shared with the command line, are rows' checks as they are.
The entry also holds the mapping and what earlier rows gave, for the few checks that look at
another key.  Rows run in the table's order: of several mistakes, the first row's is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import CycleError, SpecError
from .checks import check_notebook, check_param, check_retries, opt_address, opt_str, opt_timeout
from .grid import check_grid

_ABSENT = object()


@dataclass
class Entry:
    """One mapping of the YAML being read: where it was written, and what its rows gave so far."""

    file: Path
    raw: Any
    #: the line each key of ``raw`` was written on
    lines: Mapping[Any, int]
    #: the mapping's own line (a node's name), for errors about the whole mapping
    line: int | None = None
    node: str | None = None
    #: the key whose row is being checked
    key: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    #: the whole document's lines, by ``id``: of each mapping's keys and each list's items
    doc_lines: Mapping[int, Mapping[Any, int]] = field(default_factory=dict)

    def __call__(self, message: str) -> SpecError:
        """The error about the key being checked."""
        return self.at(message, self.key)

    def at(self, message: str, key: Any = None, *, line: int | None = None) -> SpecError:
        """The error about ``key`` of this mapping (no key: about the mapping itself)."""
        if line is None:
            line = self.lines.get(key, self.line) if key else self.line
        return SpecError.at(self.file, message, line=line, node=self.node, field=key)


Check = Callable[[Any, Entry], Any]


@dataclass(frozen=True)
class Field:
    """One key: what it holds (the README's table), how it is checked, what it becomes."""

    key: str
    doc: str
    #: the value as written -> as the spec keeps it; raises ``entry(message)``
    check: Check
    #: the model's attribute(s) it fills (several: ``check`` returns one value each); default: the key
    into: str | tuple[str, ...] | None = None
    #: checked as if written when the key is absent; without one, the model's default applies
    default: Any = _ABSENT
    #: the message when the key is absent and must not be
    required: str | None = None
    #: why the key means nothing for an attached node (``attach: true``), if it does not
    not_attached: str | None = None


def read(rows: Sequence[Field], entry: Entry, unknown: Callable[[Any], SpecError]) -> dict[str, Any]:
    """Check ``entry``'s keys row by row; the model's attributes they give."""
    known = {row.key for row in rows}
    for key in entry.raw:
        if key not in known:
            raise unknown(key)
    for row in rows:
        if row.key in entry.raw:
            value = entry.raw[row.key]
        elif row.required:
            raise entry.at(row.required)
        elif row.default is _ABSENT:
            continue
        else:
            value = row.default
        entry.key = row.key
        got = row.check(value, entry)
        into = row.into or row.key
        entry.values.update(zip(into, got) if isinstance(into, tuple) else [(into, got)])
    return entry.values


def _flag(message: str) -> Check:
    def check(value: Any, entry: Entry) -> bool:
        if not isinstance(value, bool):
            raise entry(message)
        return value

    return check


# --- the top level ----------------------------------------------------------------------

EXECUTORS = ("local", "dask")
NOTEBOOKS_NEEDED = "'notebooks:' must map node names to nodes, e.g. notebooks: {load: {path: load.ipynb}}"


def _notebooks(value: Any, entry: Entry) -> dict:
    if not isinstance(value, dict) or not value:
        raise entry.at(NOTEBOOKS_NEEDED, line=entry.lines.get("notebooks", 1))
    return value


def _build_dir(value: Any, entry: Entry) -> tuple[Path, str | None]:
    """The local folder, and the URL as written when the build lives in an fsspec location."""
    if not isinstance(value, str) or not value.strip():
        raise entry("must be a folder path (string)")
    if value.startswith("file://"):
        value = value[len("file://"):]
    from ..build.store import is_url, mirror_dir

    if is_url(value):
        url = value.rstrip("/")
        return mirror_dir(url), url
    return (entry.file.parent / Path(value).expanduser()).resolve(), None


def _storage_options(value: Any, entry: Entry) -> dict:
    value = value or {}
    if not isinstance(value, dict):
        raise entry("must be a mapping of fsspec options, e.g. storage_options: {endpoint_url: http://...}")
    if value and entry.values["build_url"] is None:
        raise entry("only applies to a build_dir URL (s3://...); remove it or make build_dir a URL")
    return dict(value)


def _executor(value: Any, entry: Entry) -> str | None:
    if value is not None and value not in EXECUTORS:
        raise entry(f"must be one of: {', '.join(EXECUTORS)}")
    return value


def _inputs(value: Any, entry: Entry) -> tuple[str, ...]:
    """Paths or globs, relative to the YAML file's folder, that the kernel cannot see being read."""
    value = [] if value is None else [value] if isinstance(value, str) else value
    example = "e.g. inputs: [data/*.parquet, db/dump.sql]"
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise entry(f"must be a list of paths or globs, relative to this file's folder, {example}")
    for pattern in value:
        if not pattern.strip() or "\0" in pattern:
            raise entry(f"{pattern!r} is not a path or glob; {example}")
    return tuple(value)


TOP_FIELDS: tuple[Field, ...] = (
    Field("notebooks", "mapping of node name -> node", _notebooks, default=None),
    Field("build_dir", "folder or fsspec URL (s3://bucket/prefix) for executed notebooks and snapshots "
                       "(default: build/ beside the YAML)", _build_dir, into=("build_dir", "build_url"), default="build"),
    Field("storage_options", "options for the fsspec filesystem of a build_dir URL (e.g. endpoint_url, profile)",
          _storage_options),
    Field("executor", "where variants run: local (default) or dask", _executor),
    Field("scheduler", "address of the Dask scheduler for executor: dask (e.g. tcp://10.0.0.5:8786)", opt_address),
    Field("kernel", "default kernel name for every node", opt_str),
    Field("timeout", "default per-cell timeout in seconds", opt_timeout),
    Field("fork", "false: children start fresh kernels instead of forking from their parent's state (default true)",
          _flag("must be true or false (false: children start fresh kernels)")),
    Field("inputs", "paths or globs every node reads without the kernel seeing it (e.g. through C code)", _inputs),
    Field("track_packages", "false: a package's new version is reported by status but re-runs nothing (default true)",
          _flag("must be true or false (false: package versions are reported, not tracked)")),
)


# --- a node -----------------------------------------------------------------------------

def cycle_error(file: Path, cycle: list[str], line: int | None) -> CycleError:
    where = f"{file}:{line}" if line else f"{file}"
    return CycleError(f"{where}: cycle in parents: {' -> '.join(cycle)}; a notebook cannot inherit from its own descendants",
                      file=str(file), line=line, node=cycle[0], field="parent", cycle=cycle)


def _notebook(rel: Any, entry: Entry) -> Path:
    if not isinstance(rel, str) or not rel.strip():
        raise entry("must be a notebook path (string)")
    path = (entry.file.parent / Path(rel).expanduser()).resolve()
    if path.is_dir():
        raise entry(f"'{rel}' is a folder; give the notebook's file, e.g. {rel.rstrip('/')}/name.ipynb")
    if not path.is_file():
        raise entry(f"notebook '{rel}' does not exist (looked for {path})")
    check_notebook(path, entry)
    return path


def _not_itself(parents: tuple[str, ...], entry: Entry) -> tuple[str, ...]:
    if entry.node in parents:
        raise cycle_error(entry.file, [entry.node, entry.node], entry.line)
    return parents


def _parent(value: Any, entry: Entry) -> tuple[str, ...]:
    if "parents" in entry.raw:
        raise entry.at("use either 'parent' or 'parents', not both", "parents")
    if not isinstance(value, str):
        raise entry("must be one node name; for several use 'parents: [a, b]'")
    return _not_itself((value,), entry)


def _parents(value: Any, entry: Entry) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(p, str) for p in names):
        raise entry("must be a list of node names, e.g. parents: [load, features]")
    if len(set(names)) != len(names):
        raise entry("lists the same parent twice")
    return _not_itself(tuple(names), entry)


def _params(value: Any, entry: Entry) -> dict:
    value = value or {}
    if not isinstance(value, dict):
        raise entry("must be a mapping of parameter -> value, e.g. params: {seed: 0}")
    for key, item in value.items():
        check_param(key, item, entry)
    return dict(value)


def _variable_names(value: Any, entry: Entry) -> tuple[str, ...]:
    value = value or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise entry("must be a list of variable names, e.g. exclude: [raw_df]")
    return tuple(value)


_LIVE_STATE = ("it takes its whole state from its live kernel, so it cannot have parents "
               "(in Jupyter, its notebook may call inherit_from itself)")

#: Node keys, in the order they are checked; the names are a contract (see the README).
NODE_FIELDS: tuple[Field, ...] = (
    Field("path", "the notebook, relative to the YAML file's folder", _notebook,
          required="'path' is required: the notebook file, relative to the YAML file's folder"),
    Field("parent", "one parent node name", _parent, into="parents", not_attached=_LIVE_STATE),
    Field("parents", "list of parent node names, merged in order (later wins)", _parents, not_attached=_LIVE_STATE),
    Field("params", "fixed papermill parameters (mapping)", _params,
          not_attached="its notebook is not executed, so there is nothing to parameterise"),
    Field("grid", "mapping parameter -> list of values (the cartesian product gives the variants), "
                  "or a list of such mappings (the union of their products)", check_grid, into=("grid", "grid_list"),
          not_attached="its notebook is not executed, so it has no variants"),
    Field("kernel", "kernel name", opt_str, not_attached="it uses the kernel its notebook already has open"),
    Field("timeout", "seconds per cell", opt_timeout),
    Field("exclude", "variable names not passed down to children", _variable_names),
    Field("attach", "take state from the live kernel of this notebook", _flag("must be true or false")),
    Field("snapshot", "false: do not snapshot this node (it cannot then have children)", _flag("must be true or false")),
    Field("strict", "true: fail when a variable can be neither copied nor rebuilt (instead of skipping it)",
          _flag("must be true or false")),
    Field("rebuild", "false: do not rebuild what the parents' snapshots could not copy (default true)",
          _flag("must be true or false (false: variables that cannot be copied are not rebuilt)")),
    Field("inputs", "paths or globs this node reads without the kernel seeing it (e.g. through C code)", _inputs,
          not_attached="its notebook is not executed, so nbgraph does not decide when it runs"),
    Field("retries", "how many times to re-run a failed variant of this node (default 0)", check_retries,
          not_attached="its notebook is not executed, so there is nothing to retry"),
)

TOP_KEYS: Mapping[str, str] = {row.key: row.doc for row in TOP_FIELDS}
NODE_KEYS: Mapping[str, str] = {row.key: row.doc for row in NODE_FIELDS}
