"""``nbgraph clean``: remove build outputs that the YAML no longer produces.

Only folders nbgraph made, for this spec, are candidates: a variant folder is
``<build_dir>/<node>/<slug>/`` holding a ``record.json`` that names its variant and this
spec (see :mod:`nbgraph.records` for records older than that stamp, and for a renamed
spec); one whose variant is not in the current graph is removed, and a node folder left
empty goes too, as do the temporary files of a killed nbgraph.  Anything else in
``build_dir`` (another spec's outputs, the report, a plot, the user's own files) is left
alone.  ``--all`` empties ``build_dir`` but for another spec's variant folders.  Nothing
outside ``build_dir`` is ever touched, and symbolic links are removed as links, never followed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import NbgraphError
from .fsutil import find_partials
from .graph import run_graph, variants_of
from .records import BuildLayout, variant_records
from .spec import Spec


def stale_outputs(spec: Spec) -> list[Path]:
    """This spec's variant folders (and node folders emptied by their removal) that the current
    graph does not produce, and nbgraph's leftover temporary files."""
    root = spec.build_dir
    if not root.is_dir():
        return []
    layout = BuildLayout.for_spec(spec)
    current = {(v.node, v.slug) for v in variants_of(run_graph(spec))}
    doomed: list[Path] = []
    for node_dir in sorted(root.iterdir()):
        ours = [d for d, record in variant_records(node_dir) if layout.owns(record.get("spec"))]
        gone = [d for d in ours if (node_dir.name, d.name) not in current]
        if gone and len(gone) == len(list(node_dir.iterdir())):
            doomed.append(node_dir)
        else:
            doomed += gone
    return doomed + [p for p in find_partials(root) if not any(d in p.parents for d in doomed)]


def others(spec: Spec) -> dict[Path, list[Path]]:
    """Variant folders in ``build_dir`` that other specs' runs wrote, by spec file: clean leaves them."""
    root = spec.build_dir
    layout = BuildLayout.for_spec(spec)
    found: dict[Path, list[Path]] = {}
    for node_dir in sorted(root.iterdir()) if root.is_dir() else ():
        for folder, record in variant_records(node_dir):
            if not layout.owns(record.get("spec")):
                found.setdefault(layout.writer_of(record["spec"]), []).append(folder)
    return found


def everything(spec: Spec) -> list[Path]:
    """Every entry of ``build_dir`` but another spec's variant folders; refused when the build
    folder holds the project itself."""
    root = spec.build_dir
    protected = [spec.file.resolve(), *(n.path.resolve() for n in spec.nodes.values())]
    for path in protected:
        if path == root or root in path.parents:
            raise NbgraphError(f"{spec.file.name}: build_dir {root} contains {path.name}; "
                               "refusing to delete it with --all (point build_dir at a folder of its own)",
                               field="build_dir")
    if not root.is_dir():
        return []
    kept = {folder for folders in others(spec).values() for folder in folders}
    doomed: list[Path] = []
    for entry in sorted(root.iterdir()):
        if any(entry in k.parents for k in kept):  # a node folder shared with another spec
            doomed += [d for d in sorted(entry.iterdir()) if d not in kept]
        else:
            doomed.append(entry)
    return doomed


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
