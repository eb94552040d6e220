"""Runs INSIDE a live parent kernel, called by the request that ``live.kernel`` sends.

It leaves no name in the user's namespace (the request, built by ``kernelcode.call``,
imports :func:`dump` under a dunder name it deletes again, and is executed silently and
without history), looks up no name of it (the namespace is the caller's globals), prints
nothing into the user's notebook, and puts back the process-wide settings it touches (the
signing-key variable, the pickler libraries' settings), so the user's own later pickling in
that kernel behaves as before.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

#: modules whose module-level ``settings`` dict a snapshot may change
_SETTINGS_OF = ("dill",)


def dump(dest: str, exclude: Sequence[str] = (), key_file: str | None = None, strict: bool = False,
         seal: bool = True, objects: str | None = None, *, ns: Mapping[str, Any] | None = None,
         notebook: str | None = None) -> None:
    """Snapshot ``ns`` (default: the caller's globals) into ``dest`` with the same format and
    signature as graph runs.

    ``key_file`` is the caller's signing key path: the caller verifies with its own key,
    so the parent signs with that one even if its environment points elsewhere.
    ``seal=False``: the caller checks and seals it, as in graph runs.  ``objects``: the
    caller's chunk store (see ``snapshot.chunks``).
    The kernel's input history goes with it (``history.from_inputs``; ``notebook`` names it), so
    the child can rebuild what could not be copied.
    """
    from ..snapshot import sign
    from ..snapshot.format import dump_namespace

    if ns is None:
        ns = sys._getframe(1).f_globals
    with _environ(sign.KEY_ENV, key_file), _settings_kept():
        from .history import from_inputs

        dump_namespace(ns, Path(dest), exclude=tuple(exclude), strict=strict, seal=seal,
                       objects=Path(objects) if objects else None, history=from_inputs(ns, notebook))


@contextlib.contextmanager
def _environ(name: str, value: str | None) -> Iterator[None]:
    if not value:
        yield
        return
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@contextlib.contextmanager
def _settings_kept() -> Iterator[None]:
    kept = {name: dict(sys.modules[name].settings) for name in _SETTINGS_OF
            if isinstance(getattr(sys.modules.get(name), "settings", None), dict)}
    try:
        yield
    finally:
        for name, settings in kept.items():
            sys.modules[name].settings.clear()
            sys.modules[name].settings.update(settings)
