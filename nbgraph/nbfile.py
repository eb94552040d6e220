"""A source notebook file, read once: the few things nbgraph asks of it before it runs.

Spec validation (is it a notebook?), the cache key (its code cells), the pre-flight checks
(its kernel, its ``parameters`` cell) and the fork server (its kernel) all ask here.  The
answer is cached by path, modification time, size and inode, so a notebook is parsed once
per process however many variants, checks and runs ask, and again as soon as it changes.

What is read is the notebook's JSON (nbformat 4).  A text notebook (:data:`TEXT_FORMATS`: a
percent-format ``.py`` script, a MyST or jupytext Markdown ``.md``) is turned into that JSON by
jupytext at one place, :func:`_document`; everything else here reads only the JSON.  Its
executed notebook is an ``.ipynb`` (:func:`executed_name`), made by :func:`text_notebook`.
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
    #: what to do about ``problem`` (default: open and save it in Jupyter)
    advice: str | None = None

    @property
    def complaint(self) -> str | None:
        """What nbgraph tells the user about a file that is not a notebook; None for a notebook."""
        if self.problem is None:
            return None
        return f"'{self.path.name}' is not a valid notebook ({self.problem}); {self.advice or 'open and save it in Jupyter'}"

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


#: text notebooks read through jupytext, by extension, and the format ``nbgraph add`` writes them in
#: (reading, jupytext tells the format from the text: a .md may be MyST or jupytext's Markdown)
TEXT_FORMATS: Mapping[str, str] = MappingProxyType({".py": "py:percent", ".md": "md:myst"})
_NOT_PERCENT = ("nbgraph runs a .py as a percent-format notebook (jupytext): start each cell with a '# %%' line, "
                "the parameters cell with '# %% tags=[\"parameters\"]'")


class Unreadable(ValueError):
    """A text notebook that jupytext cannot read as one; ``problem`` and ``advice`` as in :class:`NotebookFile`."""

    def __init__(self, problem: str, advice: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.advice = problem, advice


def executed_name(path: str | os.PathLike[str]) -> str:
    """The file name of a notebook's executed copy: an ``.ipynb`` with outputs, whatever the source's format."""
    path = Path(path)
    return f"{path.stem}.ipynb" if path.suffix in TEXT_FORMATS else path.name


def text_notebook(path: str | os.PathLike[str]) -> Any:
    """A text notebook as jupytext reads it (an ``nbformat`` notebook node, v4); raises :class:`Unreadable`
    (and ``OSError``/``UnicodeDecodeError`` for a file it cannot read as text)."""
    path = Path(path)
    try:
        import jupytext
        from jupytext.formats import guess_format
    except ImportError:
        raise Unreadable("jupytext is not installed", "pip install jupytext") from None
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py" and guess_format(text, ".py")[0] != "percent":
        raise Unreadable("no '# %%' cell markers", _NOT_PERCENT)
    try:
        return jupytext.reads(text, fmt=path.suffix[1:])
    except Exception as e:  # jupytext's own errors (a bad YAML header...) have no common root
        raise Unreadable(f"jupytext: {e.__class__.__name__}: {e}".splitlines()[0]) from e


def _document(path: Path) -> Any:
    """The notebook's nbformat JSON: read as JSON, or from a text notebook by jupytext."""
    if path.suffix in TEXT_FORMATS:
        return text_notebook(path)
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _parse(path: Path) -> NotebookFile:
    try:
        doc = _document(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return NotebookFile(path, problem=f"{e.__class__.__name__}: {e}")
    except Unreadable as e:
        return NotebookFile(path, problem=e.problem, advice=e.advice)
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
