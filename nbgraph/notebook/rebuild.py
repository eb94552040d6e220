"""Rebuild, in the child, what its parents' snapshots could not copy (runs inside the kernel).

After the snapshots are loaded, each variable a parent skipped (or that failed to load here)
is planned by :mod:`.slicer` from that parent's recorded history, and the statements of every
plan that can be replayed run once, in history order, in a *scratch* namespace: a shallow copy
of the inherited one, so replayed statements see the inherited values but rebind nothing in
it.  Only the variables being rebuilt are taken back, and only where the child has no value of
that name: an inherited value is never overwritten.  Their output is swallowed (it was the
parent's).  A file opened for reading is moved to the position the parent recorded, and closed
if the parent had closed it.  In a forked kernel this runs in each child, after the fork, so
siblings never share a connection, a lock or a thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Mapping, MutableMapping, Sequence

#: how a variable that arrived neither copied nor rebuilt is reported, when rebuilding is off
OFF = "not rebuilt (rebuilding is off for this node)"


@dataclass
class Rebuilt:
    """What a rebuild did: ``rebuilt`` and ``not_inherited`` entries, and its wall time."""

    rebuilt: list[dict[str, Any]] = field(default_factory=list)
    not_inherited: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"rebuilt": self.rebuilt, "not_inherited": self.not_inherited, "seconds": round(self.seconds, 4)}


def rebuild(ns: MutableMapping[str, Any], parents: Sequence[tuple[str, Mapping[str, Any], Sequence[Mapping[str, str]]]],
            enabled: bool = True) -> Rebuilt:
    """Rebuild into ``ns`` what ``parents`` (each ``(name, manifest, failed to load)``, in merge
    order) left out; the later parent's history is used for a name several left out."""
    started = time.perf_counter()
    done = Rebuilt()
    seen: set[str] = set()
    for parent, manifest, failed in reversed(list(parents)):
        left = [s for s in [*manifest.get("skipped", []), *failed]
                if s.get("name") not in seen and s.get("name") not in ns]
        seen.update(str(s.get("name")) for s in left)
        if not left:
            continue
        if not enabled:
            done.not_inherited += [_entry(s, parent, OFF) for s in left]
            continue
        history = manifest.get("history") if isinstance(manifest.get("history"), dict) else {}
        if not history.get("cells"):
            why = (f"not rebuilt: {parent} kept no record of the statements that made it (a snapshot from before "
                   "nbgraph recorded them: run that parent again to record them)")
            done.not_inherited += [_entry(s, parent, why) for s in left]
            continue
        cells = [c if c.get("variant") or c.get("notebook") else {**c, "notebook": parent} for c in history["cells"]]
        _rebuild_from(ns, parent, left, {**history, "cells": cells}, done)
    done.not_inherited.reverse()
    done.seconds = time.perf_counter() - started
    return done


def _entry(skip: Mapping[str, str], parent: str, why: str) -> dict[str, Any]:
    reason = str(skip.get("reason", ""))
    return {"name": str(skip.get("name")), "type": str(skip.get("type", "")), "source": parent,
            "reason": f"{reason}; {why}" if reason else why, "not_copied": reason, "not_rebuilt": why}


def plan_rebuild(left: Sequence[Mapping[str, str]], history: Mapping[str, Any],
                 inherited: Callable[[str], bool],
                 modules: Callable[[str], bool] = lambda name: False) -> tuple[Any, dict[str, str]]:
    """The slicer's plan for the variables ``left`` out, and why some need none (files open for writing)."""
    from .slicer import kind_of, plan

    files = history.get("files") or {}
    wanted: dict[str, tuple[str, str]] = {}
    refused: dict[str, str] = {}
    for skip in left:
        name, kind, reason = str(skip["name"]), str(skip.get("type", "")), str(skip.get("reason", ""))
        why = _file_refusal(files.get(name)) if kind_of(kind, reason) == "file" else None
        if why is not None:
            refused[name] = why
        else:
            wanted[name] = (kind, reason)
    return plan(history.get("cells") or [], wanted, inherited, modules), refused


def unrebuildable(left: Sequence[Mapping[str, str]], history: Mapping[str, Any],
                  inherited: Callable[[str], bool],
                  modules: Callable[[str], bool] = lambda name: False) -> dict[str, str]:
    """Of the variables ``left`` out of a snapshot, those a child could not rebuild, with why
    (``strict: true`` fails on them when the snapshot is written)."""
    planned, refused = plan_rebuild(left, history, inherited, modules)
    refused.update({name: f"it {piece.reason}" for name, piece in planned.slices.items() if piece.reason})
    return refused


def _rebuild_from(ns: MutableMapping[str, Any], parent: str, left: list[Mapping[str, str]],
                  history: Mapping[str, Any], done: Rebuilt) -> None:
    from ..snapshot.format import type_name  # the names snapshots report types by

    files = history.get("files") or {}
    cells = history.get("cells") or []
    planned, refused = plan_rebuild(left, history, lambda n: n in ns, lambda n: isinstance(ns.get(n), ModuleType))
    errors, times, scratch = _replay(ns, planned)
    for skip in left:
        name = str(skip["name"])
        piece = planned.slices.get(name)
        if piece is None:
            done.not_inherited.append(_entry(skip, parent, f"not rebuilt: {refused[name]}"))
            continue
        why = piece.reason and f"not rebuilt: it {piece.reason}"
        failed = next((k for k in piece.keys if k in errors), None)
        if why is None and failed is not None:
            why = f"not rebuilt: replaying {planned.where(failed)} failed: {errors[failed]}"
        if why is None and name not in scratch:
            why = "not rebuilt: its statements ran but did not bind it"
        if why is None:
            why = _take_back(ns, name, scratch[name], files.get(name))
        if why is not None:
            done.not_inherited.append(_entry(skip, parent, why))
            continue
        cell = cells[piece.made_by[0]] if piece.made_by is not None else {}
        done.rebuilt.append({"name": name, "type": type_name(ns[name]), "source": parent,
                             "notebook": cell.get("notebook"), "variant": cell.get("variant"),
                             "cell": cell.get("cell"), "statements": len(piece.keys),
                             "seconds": round(sum(times.get(k, 0.0) for k in piece.keys), 4)})


def _file_refusal(state: Mapping[str, Any] | None) -> str | None:
    """Why an open file must not be opened again from the parent's code (None: it may)."""

    if not state:
        return None
    mode = str(state.get("mode", ""))
    if state.get("path") is None and not state.get("closed"):
        return "it is a file without a name (a temporary file): its content cannot be opened again"
    if set(mode) & set("wax+") and not state.get("closed"):
        what = "appending" if "a" in mode else "writing"
        return f"it was open for {what} (mode {mode!r}); nbgraph never replays a file write: open it again in the child"
    if not state.get("closed") and state.get("position") is None:
        return "its position in the parent could not be read (it was being iterated over)"
    return None


def _replay(ns: Mapping[str, Any], planned: Any) -> tuple[dict[Any, str], dict[Any, float], dict[str, Any]]:
    """Run the plan's statements in order in a scratch namespace: (errors, seconds, scratch) by statement."""
    import ast
    import builtins
    import contextlib
    import io
    import os

    from ..snapshot.loader import one_line

    scratch: dict[str, Any] = dict(ns)
    scratch.setdefault("__builtins__", builtins)
    errors: dict[Any, str] = {}
    times: dict[Any, float] = {}
    sink = io.StringIO()
    here = os.getcwd()
    try:
        for key in planned.order():
            stmt = planned.statements[key]
            started = time.perf_counter()
            try:
                code = compile(ast.Module(body=[stmt.node], type_ignores=[]), f"<{planned.where(key)}>", "exec")
                _enter(planned.cells[key[0]].get("cwd"))  # relative paths mean what they meant in the parent
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    exec(code, scratch)
            except Exception as e:
                errors[key] = one_line(e)
            times[key] = time.perf_counter() - started
    finally:
        os.chdir(here)
    return errors, times, scratch


def _enter(folder: Any) -> None:
    import os

    if isinstance(folder, str) and folder != os.getcwd() and os.path.isdir(folder):
        os.chdir(folder)


def _take_back(ns: MutableMapping[str, Any], name: str, value: Any, state: Mapping[str, Any] | None) -> str | None:
    """Put a rebuilt value into ``ns`` (a file where the parent left it); why not, if it cannot be."""
    import os

    if name in ns:  # something the replay called bound it in the real namespace: it stays
        return "not rebuilt: the child already has a value of that name"
    if state:
        path = getattr(value, "name", None)
        if isinstance(path, str) and state.get("path") and os.path.abspath(path) != state.get("path"):
            value.close()
            return f"not rebuilt: its statement opens {os.path.abspath(path)} here, the parent had {state.get('path')}"
        try:
            if state.get("closed"):
                value.close()
            elif state.get("position") is not None:
                value.seek(state["position"])
        except (OSError, ValueError, AttributeError) as e:
            return f"not rebuilt: reopened, but could not move to where the parent was ({type(e).__name__}: {e})"
    ns[name] = value
    return None

