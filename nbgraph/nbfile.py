"""A source notebook file, read once: the few things nbgraph asks of it before it runs.

Spec validation (is it a notebook?), the cache key (its code cells), the pre-flight checks
(its kernel, its ``parameters`` cell) and the fork server (its kernel) all ask here.  The
answer is cached by path, modification time, size and inode, so a notebook is parsed once
per process however many variants, checks and runs ask, and again as soon as it changes.

What is read is the notebook's JSON (nbformat 4).  Another file format (a percent-format
``.py`` notebook through jupytext) plugs in at one place, :func:`_document`, which turns a
file into that JSON; everything else here reads only the JSON.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

#: papermill's tag for its cell of injected parameters: not the notebook's own code
INJECTED_PARAMETERS_TAG = "injected-parameters"
PARAMETERS_TAG = "parameters"
#: parsed notebooks kept per process (a server running many graphs stays bounded)
_MAX_CACHED = 512


@dataclass(frozen=True)
class NotebookFile:
    """What nbgraph reads in a source notebook; ``problem`` says why it is not one."""

    path: Path
    #: the sources of its code cells, in order, without papermill's injected parameters cell
    code: tuple[str, ...] = ()
    #: ``metadata.kernelspec`` as saved, if any
    kernelspec: Mapping[str, Any] | None = None
    #: whether a cell is tagged ``parameters`` (papermill puts the parameters after it)
    has_parameters_cell: bool = False
    #: why this is not a readable notebook, e.g. ``JSONDecodeError: ...``; None when it is one
    problem: str | None = None

    @property
    def complaint(self) -> str | None:
        """What nbgraph tells the user about a file that is not a notebook; None for a notebook."""
        if self.problem is None:
            return None
        return f"'{self.path.name}' is not a valid notebook ({self.problem}); open and save it in Jupyter"

    @property
    def kernel(self) -> str | None:
        """The kernel name saved in the notebook, if any."""
        name = (self.kernelspec or {}).get("name")
        return name if isinstance(name, str) and name else None


_cache: dict[str, tuple[tuple[int, int, int], NotebookFile]] = {}
_lock = threading.Lock()


#: the kernel of a notebook that names none (no ``metadata.kernelspec``) and no ``kernel:`` in the spec
DEFAULT_KERNEL = "python3"


def kernel_for(path: str | os.PathLike[str], declared: str | None) -> str:
    """The kernel a notebook runs on: the spec's (node or top-level), else its own, else python3."""
    return declared or read_notebook(path).kernel or DEFAULT_KERNEL


def read_notebook(path: str | os.PathLike[str]) -> NotebookFile:
    """The notebook at ``path``, parsed at most once while the file stays unchanged.

    Never raises for a bad file: the value carries the problem instead (and is not cached,
    so a file fixed in place, permissions included, is read again).
    """
    key = os.fspath(path)
    try:
        st = os.stat(key)
        stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        stamp = None  # reading it says why, in the words the user is shown
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    notebook = _parse(Path(path))
    if stamp is not None and notebook.problem is None:
        with _lock:
            if len(_cache) >= _MAX_CACHED:
                _cache.clear()
            _cache[key] = (stamp, notebook)
    return notebook


def _document(path: Path) -> Any:
    """The notebook's nbformat JSON: the one place where another file format would plug in."""
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _parse(path: Path) -> NotebookFile:
    try:
        doc = _document(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return NotebookFile(path, problem=f"{e.__class__.__name__}: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list) or "nbformat" not in doc:
        return NotebookFile(path, problem="no 'cells'/'nbformat'")
    cells = [c for c in doc["cells"] if isinstance(c, dict)]
    code = tuple(_source(c) for c in cells
                 if c.get("cell_type") == "code" and INJECTED_PARAMETERS_TAG not in _tags(c))
    metadata = doc.get("metadata")
    kernelspec = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    return NotebookFile(path, code=code,
                        kernelspec=MappingProxyType(dict(kernelspec)) if isinstance(kernelspec, dict) else None,
                        has_parameters_cell=any(PARAMETERS_TAG in _tags(c) for c in cells))


def _tags(cell: dict[str, Any]) -> list[Any]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return tags if isinstance(tags, list) else []


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):  # nbformat allows a list of lines
        return "".join(str(line) for line in source)
    return source if isinstance(source, str) else str(source)
