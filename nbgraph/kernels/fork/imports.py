"""What a zygote imports: what every kernel imports anyway, before any state; and which of the
modules a load imported, or a snapshot names, a mother can import too (installed packages, never
a notebook's own).
"""

from __future__ import annotations

import sys
from typing import Any

def prepare_main() -> dict[str, Any]:
    """The namespace the state is loaded into, installed as ``__main__`` *before* any pickler is
    imported, as in a kernel; the forked kernel's shell then adopts this very dict."""
    import builtins

    from IPython.core import interactiveshell

    ns: dict[str, Any] = {"__name__": "__main__", "__builtin__": builtins, "__builtins__": builtins}
    if hasattr(interactiveshell, "make_main_module_type"):  # IPython >= 9
        module = interactiveshell.make_main_module_type(ns)()
    else:
        module = interactiveshell.DummyMod()
        module.__dict__ = ns
    sys.modules["__main__"] = module  # type: ignore[assignment]
    return ns


def preimport() -> None:
    """What every kernel imports anyway (also lazily, while it initialises), paid once here
    instead of once per child: it brings a forked kernel's start from ~0.4 s to ~0.03 s."""
    import contextlib
    import importlib
    import io

    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import ipykernel_launcher  # noqa: F401

    from ...notebook import history, inject, rebuild, slicer  # noqa: F401  (recording, rebuilding)
    from ...notebook import uses

    uses.interpreter_folders()
    from ...snapshot import format as _format  # noqa: F401

    for name in KERNEL_IMPORTS:
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # debugpy's notes belong to no kernel
                importlib.import_module(name)
        except Exception:
            pass


#: Imported by a kernel while it starts (found by profiling IPKernelApp.initialize), and when it
#: shuts down (psutil, to look for processes it started: 20 ms per kernel otherwise).
KERNEL_IMPORTS = (
    "numpy", "ipykernel.debugger", "sqlite3", "pdb", "IPython.core.debugger", "IPython.core.completerlib",
    "IPython.core.oinspect", "IPython.extensions.storemagic", "tornado.platform.asyncio", "faulthandler",
    "psutil",
)


def importable(name: str) -> bool:
    """Whether a mother may import ``name``: a dotted module name whose top-level package is
    installed or in the standard library (found without importing it), never a notebook's own
    module that the mother's folder or path could shadow or run."""
    import importlib.util

    from ...notebook.uses import installed_file

    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return False
    top = parts[0]
    if top in sys.builtin_module_names:
        return True
    module = sys.modules.get(top)
    if module is not None:
        where = getattr(module, "__file__", None)
    else:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return False
        if spec is None:
            return False
        if spec.origin == "frozen":
            return True
        where = spec.origin or next(iter(spec.submodule_search_locations or []), None)  # a namespace package
    return bool(where) and installed_file(where)


def ahead_of(snapshots) -> list[str]:
    """The modules loading these snapshots will import (their signed manifests' ``modules``; a
    snapshot unreadable, unsigned or of an older nbgraph adds none): a run's mother zygote imports
    them while the parents that will replace these snapshots still run."""
    from ...errors import NbgraphError
    from ...snapshot.manifest import read_manifest

    modules: dict[str, None] = {}
    for path in snapshots:
        try:
            manifest = read_manifest(path, check_files=False)
        except (NbgraphError, OSError, ValueError):
            continue
        for name in manifest.get("modules") or []:
            if isinstance(name, str):
                modules.setdefault(name)
    return list(modules)
