"""What a zygote imports: what every kernel imports anyway, before any state; and which of the
modules a load imported a mother can import too (installed packages, never a notebook's own).
"""

from __future__ import annotations

import os
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


def installed(names: list[str]) -> list[str]:
    """Those of ``names`` that are modules of installed packages or of the standard library (not a
    notebook's own modules, which belong to its folder), in the order they were imported."""
    from ...notebook.uses import interpreter_folders

    sites, stdlib = interpreter_folders()
    roots = tuple(sites) + tuple(stdlib)
    kept = []
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path and os.path.realpath(path).startswith(roots):
            kept.append(name)
    return kept
