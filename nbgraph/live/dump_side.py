"""Runs INSIDE a live parent kernel, called by the one expression that ``kernel.py`` sends.

It binds no name in the user's namespace (the caller sends a bare
``__import__(...).dump(globals(), ...)`` expression, executed silently and without
history), prints nothing into the user's notebook, and restores what it touches.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence


def dump(ns: Mapping[str, Any], dest: str, exclude: Sequence[str] = (), key_file: str | None = None) -> None:
    """Snapshot ``ns`` into ``dest`` with the same format and signature as graph runs.

    ``key_file`` is the caller's signing key path: the caller verifies with its own key,
    so the parent signs with that one even if its environment points elsewhere.
    """
    from ..snapshot import sign
    from ..snapshot.format import dump_namespace

    if not key_file:
        dump_namespace(ns, Path(dest), exclude=tuple(exclude), strict=False)
        return
    previous = os.environ.get(sign.KEY_ENV)
    os.environ[sign.KEY_ENV] = key_file
    try:
        dump_namespace(ns, Path(dest), exclude=tuple(exclude), strict=False)
    finally:
        if previous is None:
            os.environ.pop(sign.KEY_ENV, None)
        else:
            os.environ[sign.KEY_ENV] = previous
