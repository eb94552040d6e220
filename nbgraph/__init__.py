"""nbgraph: notebooks that inherit their parents' kernel state, run as a graph.

The public API is small and imported lazily, so ``import nbgraph`` inside a kernel
costs nothing until used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "load_spec",
    "run",
    "record",
    "inherit_from",
    "Inherited",
    "NbgraphError",
    "SpecError",
    "CycleError",
    "SelectionError",
    "SnapshotError",
    "NotebookFailed",
    "RunFailed",
    "LiveError",
]

_LAZY = {
    "load_spec": ("nbgraph.spec", "load_spec"),
    "run": ("nbgraph.runner", "run"),
    "record": ("nbgraph.kernels.record", "record"),
    "inherit_from": ("nbgraph.inherit", "inherit_from"),
    "Inherited": ("nbgraph.summary", "Inherited"),
    "NbgraphError": ("nbgraph.errors", "NbgraphError"),
    "SpecError": ("nbgraph.errors", "SpecError"),
    "CycleError": ("nbgraph.errors", "CycleError"),
    "SelectionError": ("nbgraph.errors", "SelectionError"),
    "SnapshotError": ("nbgraph.errors", "SnapshotError"),
    "NotebookFailed": ("nbgraph.errors", "NotebookFailed"),
    "RunFailed": ("nbgraph.errors", "RunFailed"),
    "LiveError": ("nbgraph.errors", "LiveError"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'nbgraph' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
