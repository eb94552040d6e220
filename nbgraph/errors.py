"""Every error nbgraph raises on purpose, and the exit codes they map to.

The tree (``tests/test_errors.py`` checks it against the classes; a subclass exits as its parent)::

    NbgraphError                root; carries a one-line, actionable message             exit 2
    ├── SpecError               inheritance.yaml is wrong (file, line, node, field)      exit 2
    │   └── CycleError          the parents form a cycle, shown as a path
    ├── SelectionError          --only / a variant name that the graph does not have     exit 2
    ├── SnapshotError           a snapshot is missing, unsigned, tampered or too old     exit 2
    ├── BuildBusy               another nbgraph run holds the build folder's lock        exit 2
    ├── MissingExtra            an optional dependency is not installed (with a hint)    exit 2
    ├── StoreError              the build location cannot be read or written             exit 2
    ├── PlotError               plot/report: no matplotlib, a wrong or foreign output    exit 2
    ├── LiveError               a live kernel (inherit_from, attach) is out of reach     exit 2
    │   ├── NoServer            no Jupyter server is running (or none answers)
    │   ├── NotOpen             the notebook is open in no server (the message lists what is)
    │   ├── Ambiguous           it is open in several servers: the message says how to choose
    │   ├── KernelDied          its kernel is dead or restarting
    │   ├── KernelBusy          its kernel stayed busy, or did not answer, past the timeout
    │   └── ParentRaised        the dump raised inside the parent kernel (ename, evalue)
    └── RunFailed               nbgraph.run(raise_on_failure=True): some variants failed  exit 1

A failed notebook is not an exception: it is a ``failed`` record (the error and the
partially executed notebook), its descendants are skipped, and ``nbgraph run`` exits 1.

Exit codes (the README's table; relied on by scripts and CI):

* 0   everything asked for succeeded
* 1   a notebook failed (its descendants were skipped; the rest of the graph ran)
* 2   bad input before anything ran: spec, selection, snapshot, a live kernel out of reach
* 3   nbgraph itself failed (a bug: run with --debug and report it)
* 130 interrupted (Ctrl-C / SIGTERM)
* 141 the reader of the output went away (``nbgraph status | head``)

Exceptions keep their fields through pickling (``__reduce__``) because they cross
process and Dask boundaries.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

EXIT_OK = 0
EXIT_NOTEBOOK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # as a shell reports a command killed by SIGPIPE (128 + 13)


class NbgraphError(Exception):
    """Root of nbgraph's errors: ``str(err)`` is the one line a user sees."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        for name, value in fields.items():
            setattr(self, name, value)

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.fields))

    def __str__(self) -> str:
        return self.message

    @property
    def _render_traceback_(self) -> Callable[[], list[str]]:
        """How IPython shows the error in a notebook: its one line, not nbgraph's inner frames.

        The full traceback is a switch away: ``%xmode Verbose`` in the notebook, or
        ``NBGRAPH_DEBUG=1`` in the kernel's environment (IPython asks ``hasattr`` first).
        """
        if _full_tracebacks():
            raise AttributeError("_render_traceback_")
        return lambda: [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self.message}"]


def _full_tracebacks() -> bool:
    if os.environ.get("NBGRAPH_DEBUG", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(getattr(shell, "InteractiveTB", None), "mode", "") == "Verbose"


def _rebuild(cls, message, fields):
    err = cls.__new__(cls)
    NbgraphError.__init__(err, message, **fields)
    return err


class SpecError(NbgraphError):
    """The spec is invalid; the message starts with ``file:line:`` and names node and field."""

    @classmethod
    def at(
        cls,
        file: object,
        message: str,
        *,
        line: int | None = None,
        node: str | None = None,
        field: str | None = None,
    ) -> "SpecError":
        where = f"{file}:{line}" if line else f"{file}"
        subject = ""
        if node and field:
            subject = f"node '{node}', field '{field}': "
        elif node:
            subject = f"node '{node}': "
        elif field:
            subject = f"field '{field}': "
        return cls(f"{where}: {subject}{message}", file=str(file), line=line, node=node, field=field)


class CycleError(SpecError):
    """The parent relation has a cycle; ``cycle`` lists it, first node repeated at the end."""


class SelectionError(NbgraphError):
    """A node or variant named on the command line does not exist or cannot run alone."""


class SnapshotError(NbgraphError):
    """A snapshot cannot be trusted or read; the remedy is to re-run its producer with --force."""


class BuildBusy(NbgraphError):
    """Another ``nbgraph run`` is using this build folder; ``holder`` says which process."""


class MissingExtra(NbgraphError):
    """An optional dependency is missing; the message names the ``pip install`` that adds it."""


class StoreError(NbgraphError):
    """The build location (a folder or an fsspec URL) cannot be reached, read or written."""


class PlotError(NbgraphError):
    """A picture or report cannot be made: matplotlib is missing, the output name or format is
    wrong, or the output is a file or folder that nbgraph did not write (``--force`` replaces it)."""


class LiveError(NbgraphError):
    """A live Jupyter kernel could not give its state; nothing was loaded or changed."""


class NoServer(LiveError):
    """No running Jupyter server of this user answered."""


class NotOpen(LiveError):
    """The notebook has no session in any server; ``open`` lists the notebooks that do."""


class Ambiguous(LiveError):
    """The notebook matches several live kernels; ``candidates`` lists them (server, path)."""


class KernelDied(LiveError):
    """The notebook's kernel is dead, restarting, or its connection file is gone."""


class KernelBusy(LiveError):
    """The kernel stayed busy (or silent) past the timeout; it was left alone."""


class ParentRaised(LiveError):
    """Dumping the state raised inside the parent kernel; ``ename``/``evalue`` say what."""


class RunFailed(NbgraphError):
    """Raised by :func:`nbgraph.run` when some variants failed; ``result`` has them all."""

    exit_code = EXIT_NOTEBOOK_FAILED
