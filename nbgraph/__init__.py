"""nbgraph: notebooks that inherit their parents' kernel state, run as a graph.

The public API is small and imported lazily, so ``import nbgraph`` inside a kernel
costs nothing until used.  Every error family is exported here; the subclasses of
:class:`LiveError` (``NoServer``, ``NotOpen``...) live in :mod:`nbgraph.errors`.
``tests/test_public_api.py`` pins this list.
"""

__version__ = "0.1.0"

_ERRORS = (
    "NbgraphError",
    "SpecError",
    "CycleError",
    "SelectionError",
    "SnapshotError",
    "BuildBusy",
    "MissingExtra",
    "StoreError",
    "PlotError",
    "LiveError",
    "RunFailed",
)

_LAZY = {
    "load_spec": ("nbgraph.spec", "load_spec"),
    "run": ("nbgraph.runner", "run"),
    "record": ("nbgraph.notebook.record", "record"),
    "results": ("nbgraph.table", "results"),
    "inherit_from": ("nbgraph.notebook.inherit", "inherit_from"),
    "Inherited": ("nbgraph.notebook.provenance", "Inherited"),
    **{name: ("nbgraph.errors", name) for name in _ERRORS},
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
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
