"""The public API is a contract: what ``nbgraph`` exports is listed here, and nothing else leaks."""

import subprocess
import sys

import nbgraph

PUBLIC = {
    "__version__",
    "load_spec",
    "run",
    "record",
    "results",
    "inherit_from",
    "Inherited",
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
}


def test_all_is_the_pinned_public_api():
    assert len(nbgraph.__all__) == len(set(nbgraph.__all__)), "a name is exported twice"
    assert set(nbgraph.__all__) == PUBLIC


def test_every_exported_name_resolves_to_what_it_says():
    for name in nbgraph.__all__:
        value = getattr(nbgraph, name)
        if name != "__version__":
            assert getattr(value, "__name__", None) == name, f"nbgraph.{name} is {value!r}"
            assert value.__module__.startswith("nbgraph."), f"nbgraph.{name} comes from {value.__module__}"
    assert nbgraph.run.__module__ == "nbgraph.runner" and nbgraph.load_spec.__module__ == "nbgraph.spec"
    assert not hasattr(nbgraph, "no_such_name")


def test_every_error_family_is_exported():
    """A direct child of the root can reach a caller of nbgraph.run: it must be catchable from nbgraph."""
    from nbgraph import errors

    families = {cls.__name__ for cls in errors.NbgraphError.__subclasses__()} | {"NbgraphError"}
    assert families <= set(nbgraph.__all__)
    for name in families:
        assert getattr(nbgraph, name) is getattr(errors, name)


def test_nothing_private_leaks_and_import_is_lazy():
    """In a fresh interpreter: ``import nbgraph`` binds only the public API (nothing else without a
    leading underscore), imports none of its heavy modules, and ``import *`` gives exactly ``__all__``."""
    code = (
        "import sys, nbgraph\n"
        "public = {n for n in vars(nbgraph) if not n.startswith('_')}\n"
        "assert public <= set(nbgraph.__all__), public - set(nbgraph.__all__)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('nbgraph.'))\n"
        "assert not loaded, loaded\n"
        "heavy = [m for m in ('papermill', 'networkx', 'jupyter_client', 'dill') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "ns = {}\n"
        "exec('from nbgraph import *', ns)\n"
        "assert set(ns) - {'__builtins__'} == set(nbgraph.__all__), set(ns)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
