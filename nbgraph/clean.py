"""``nbgraph clean``: remove build outputs that the YAML no longer produces.

Only folders nbgraph made are candidates: a variant folder is ``<build_dir>/<node>/<slug>/``
holding a ``record.json`` that names its variant; one whose variant is not in the
current graph is removed, and a node folder left empty goes too.  Anything else in
``build_dir`` (the report, a plot, the user's own files) is left alone.  ``--all``
empties ``build_dir`` entirely.  Nothing outside ``build_dir`` is ever touched, and
symbolic links are removed as links, never followed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import NbgraphError
from .fsutil import read_json
from .graph import run_graph, variants_of
from .spec import Spec
from .store import RECORD


def stale_outputs(spec: Spec) -> list[Path]:
    """Variant folders (and node folders emptied by their removal) the current graph does not produce."""
    root = spec.build_dir
    if not root.is_dir():
        return []
    current = {(v.node, v.slug) for v in variants_of(run_graph(spec))}
    doomed: list[Path] = []
    for node_dir in sorted(root.iterdir()):
        if node_dir.is_symlink() or not node_dir.is_dir():
            continue
        variant_dirs = [d for d in sorted(node_dir.iterdir()) if d.is_dir() and not d.is_symlink()]
        ours = [d for d in variant_dirs if _is_variant_dir(d, node_dir.name)]
        gone = [d for d in ours if (node_dir.name, d.name) not in current]
        if gone and len(gone) == len(list(node_dir.iterdir())):
            doomed.append(node_dir)
        else:
            doomed += gone
    return doomed


def _is_variant_dir(folder: Path, node: str) -> bool:
    record = read_json(folder / RECORD)
    return isinstance(record, dict) and record.get("node") == node and isinstance(record.get("name"), str)


def everything(spec: Spec) -> list[Path]:
    """Every entry of ``build_dir``; refused when the build folder holds the project itself."""
    root = spec.build_dir
    protected = [spec.file.resolve(), *(n.path.resolve() for n in spec.nodes.values())]
    for path in protected:
        if path == root or root in path.parents:
            raise NbgraphError(f"{spec.file.name}: build_dir {root} contains {path.name}; "
                               "refusing to delete it with --all (point build_dir at a folder of its own)",
                               field="build_dir")
    if not root.is_dir():
        return []
    return sorted(root.iterdir())


def remove(spec: Spec, paths: list[Path]) -> None:
    """Delete ``paths``, each checked to lie inside ``build_dir`` first."""
    root = spec.build_dir.resolve()
    for path in paths:
        parent = path.parent.resolve()
        if parent != root and root not in parent.parents:
            raise NbgraphError(f"{path}: outside build_dir {root}; not removing it")
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path)


def clean(spec: Spec, *, every: bool = False, dry_run: bool = False) -> list[Path]:
    """Remove what the graph no longer produces (everything with ``every``); returns what went."""
    paths = everything(spec) if every else stale_outputs(spec)
    if not dry_run:
        remove(spec, paths)
    return paths
