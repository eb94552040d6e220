"""Where each name came from: the cells a kernel ran, recorded as they run (inside the kernel).

A rebuild (:mod:`.rebuild`) replays the parent's own statements, so the parent records, per
cell its notebook ran (the parameters cell included, nbgraph's own cells not), the code as
IPython ran it (magics already turned into calls), the names the cell bound or rebound (an
IPython ``pre_run_cell``/``post_run_cell`` pair comparing the namespace's bindings: a dict
of ids, nothing pickled or copied), whether it succeeded, and which notebook and cell it
was.  The names each cell reads are taken from its code when the history is saved, once.

The history travels inside the snapshot's signed manifest and is inherited: a child's
history is its parents' (in merge order) followed by its own cells, so a grandchild can
rebuild from its grandparent's cells.  At save time the position, mode and path of every
open file in the namespace are added (``files``), so a file opened for reading is re-opened
where the parent left it, not re-read.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

VERSION = 1

#: history cells inherited from the parents' snapshots (set by ``inject.inherit``)
_inherited: list[dict[str, Any]] = []
_recorder: "_Recorder | None" = None


class _Recorder:
    def __init__(self, shell: Any, variant: str, notebook: str, labels: Sequence[Sequence[str]]) -> None:
        from ..snapshot.format import is_kernel_internal

        self.shell, self.variant, self.notebook = shell, variant, notebook
        self.internal = is_kernel_internal
        self.by_id = {str(i): str(label) for i, label in labels if i}
        self.in_order = [str(label) for _, label in labels]
        #: ids of the bindings before the running cell; None: no cell started since recording did (the
        #: cell that starts recording is nbgraph's own: its end is not recorded)
        self.before: dict[str, int] | None = None
        self.cells: list[dict[str, Any]] = []

    def pre(self, info: Any = None) -> None:
        ns = self.shell.user_ns
        self.before = dict(zip(ns, map(id, ns.values())))  # C speed: this runs before every cell

    def post(self, result: Any) -> None:
        before, internal, self.before = self.before, self.internal, None
        if before is None:
            return
        info = getattr(result, "info", None)
        raw = getattr(info, "raw_cell", None) or ""
        ns = self.shell.user_ns
        now = dict(zip(ns, map(id, ns.values())))
        bound = [k for k, i in now.items() if before.get(k) != i and not internal(k)] if now != before else []
        label = self.by_id.get(str(getattr(info, "cell_id", None) or ""))
        if label is None:
            label = self.in_order[len(self.cells)] if len(self.cells) < len(self.in_order) else f"cell {len(self.cells) + 1}"
        self.cells.append({"variant": self.variant, "notebook": self.notebook, "cell": label, "raw": raw,
                           "bound": bound, "ok": bool(getattr(result, "success", True)), "cwd": os.getcwd()})

    def close(self) -> None:
        for event, hook in (("pre_run_cell", self.pre), ("post_run_cell", self.post)):
            try:
                self.shell.events.unregister(event, hook)
            except ValueError:
                pass


def adopt(cells: Sequence[Mapping[str, Any]]) -> None:
    """Take a parent's history (called once the snapshots are loaded, in merge order); cells
    another parent passed down already (a shared ancestor's) are kept once."""
    import json

    seen = {json.dumps(c, sort_keys=True, default=str) for c in _inherited}
    for cell in cells:
        key = json.dumps(cell, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            _inherited.append(dict(cell))


def inherited() -> list[dict[str, Any]]:
    return list(_inherited)


def start(variant: str, notebook: str, labels: Sequence[Sequence[str]] = ()) -> None:
    """Record the cells that run from now on; ``labels``: ``[cell id, label]`` of the notebook's
    code cells in order (``cell 3``, ``the parameters``), as the run names them."""
    global _recorder
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    stop()
    _recorder = _Recorder(shell, variant, notebook, labels)
    shell.events.register("pre_run_cell", _recorder.pre)
    shell.events.register("post_run_cell", _recorder.post)


def stop() -> list[dict[str, Any]]:
    """Stop recording; the cells recorded so far."""
    global _recorder
    recorder, _recorder = _recorder, None
    if recorder is None:
        return []
    recorder.close()
    return recorder.cells


def finish(ns: Mapping[str, Any]) -> dict[str, Any]:
    """Stop recording: the whole history (inherited, then this kernel's) and the open files of ``ns``."""
    own = stop()
    cells = inherited()
    for cell in own:
        cells.append(_with_code(cell))
    return {"version": VERSION, "cells": cells, "files": file_states(ns)}


def from_inputs(ns: Mapping[str, Any], notebook: str | None = None) -> dict[str, Any]:
    """The history of a live kernel that recorded none: its input history (``In``), as IPython ran
    it, cell by cell in the order run.  What each cell bound, and whether it raised, is not known
    there: the planner reads the bindings from the code alone."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        parsed = list(shell.history_manager.input_hist_parsed) if shell is not None else []
    except Exception:
        return {}
    cells = []
    for number, source in enumerate(parsed[1:], 1):
        if not isinstance(source, str) or not source.strip():
            continue
        cells.append(_with_code({"variant": None, "notebook": notebook, "cell": f"In [{number}]", "raw": source,
                                 "ok": None}, transform=False))
    return {"version": VERSION, "cells": cells, "files": file_states(ns), "live": True} if cells else {}


def _with_code(cell: dict[str, Any], transform: bool = True) -> dict[str, Any]:
    """The recorded cell with its code as IPython ran it and the names that code reads."""
    from .statements import split

    raw = cell.pop("raw", "")
    source = raw
    try:
        if not transform:
            raise LookupError(raw)
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            source = shell.transform_cell(raw)
    except Exception:  # already transformed, or code IPython cannot transform (it cannot have run either)
        pass
    statements = split(source) or []
    cell["source"] = source
    cell["read"] = sorted(set().union(*(s.reads for s in statements)) if statements else set())
    return cell


def file_states(ns: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Path, mode, position and closed-ness of every open file object bound in ``ns``."""
    import io

    states = {}
    for name, value in ns.items():
        if not isinstance(value, io.IOBase) or isinstance(value, (io.BytesIO, io.StringIO)):
            continue
        path = getattr(value, "name", None)
        state: dict[str, Any] = {"path": _absolute(path) if isinstance(path, str) else None,
                                 "mode": str(getattr(value, "mode", "")),
                                 "closed": bool(value.closed)}
        if not value.closed:
            try:
                state["position"] = value.tell()
            except (OSError, ValueError):  # a text file being iterated over cannot tell
                state["position"] = None
        states[name] = state
    return states


def _absolute(path: str) -> str:
    return os.path.abspath(path)


def reset() -> None:
    """Forget the inherited history (tests; a kernel loads its parents once)."""
    _inherited.clear()
    stop()
