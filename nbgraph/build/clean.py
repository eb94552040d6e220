"""``nbgraph clean``: remove build outputs that the YAML no longer produces.

Only folders nbgraph made, for this spec, are candidates: a variant folder is
``<build_dir>/<node>/<slug>/`` holding a ``record.json`` that names its variant and this
spec (see :mod:`nbgraph.build.records` for records older than that stamp, and for a renamed
spec); one whose variant is not in the current graph is removed, and a node folder left
empty goes too, as do the temporary files of a killed nbgraph.  Anything else in
``build_dir`` (another spec's outputs, the report, a plot, the user's own files) is left
alone.  ``--all`` empties ``build_dir`` but for another spec's variant folders.  Nothing
outside ``build_dir`` is ever touched, and symbolic links are removed as links, never followed.

Then the chunk store shared by every snapshot of the build location is swept: a chunk
that no snapshot left in ``build_dir`` references (this spec's or another's) goes,
whether its variant was just removed or an older run of a kept one (``--force``) left it.
A remote build location (``s3://...``) is cleaned itself, the bucket as its local mirror,
under the same rules.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NbgraphError
from ..fsutil import find_partials
from ..graph import run_graph, variants_of
from .records import BuildLayout, objects_dir, variant_records
from ..names import STORE_DIR
from ..spec import Spec
from .location import open_store
from .store import Store


@dataclass
class Cleaned:
    """What ``clean`` removed (or would remove): folders and files, chunks, and the bytes they held."""

    paths: list[Path] = field(default_factory=list)
    chunks: int = 0
    freed: int = 0


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
        if node_dir.name == STORE_DIR:
            continue
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
        if entry.name == STORE_DIR:  # swept chunk by chunk: another spec's snapshots may share it
            continue
        if any(entry in k.parents for k in kept):  # a node folder shared with another spec
            doomed += [d for d in sorted(entry.iterdir()) if d not in kept]
        else:
            doomed.append(entry)
    return doomed


def remove(spec: Spec, paths: list[Path], store: Store | None = None) -> None:
    """Delete ``paths`` (at the build location too, when it is remote), each checked to lie inside
    ``build_dir`` first."""
    root = spec.build_dir.resolve()
    for path in paths:
        parent = path.parent.resolve()
        if parent != root and root not in parent.parents:
            raise NbgraphError(f"{path}: outside build_dir {root}; not removing it")
        if store is not None and store.remote:
            store.remove(store.ref(path))
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path)


def clean(spec: Spec, *, every: bool = False, dry_run: bool = False) -> Cleaned:
    """Remove what the graph no longer produces (everything with ``every``) and the chunks no
    snapshot left references; returns what went."""
    store = open_store(spec.build_location, spec.storage_options, root=spec.build_dir)
    if store.remote:
        store.pull_records()  # judge what the bucket holds, not only what this machine saw
    paths = everything(spec) if every else stale_outputs(spec)
    if every and store.remote:
        paths += _remote_only(store, spec, paths)
    cleaned = Cleaned(paths=paths, freed=sum(_size(p) for p in paths))
    if not dry_run:
        remove(spec, paths, store)
    _sweep(spec, store, cleaned, dry_run)
    return cleaned


def _sweep(spec: Spec, store: Store, cleaned: Cleaned, dry_run: bool) -> None:
    """Remove the chunks that no snapshot left in the build folder references."""
    from ..snapshot.gc import manifests_under, referenced_by, sweep

    objects = objects_dir(spec.build_dir)
    doomed = [p.resolve() for p in cleaned.paths]
    kept = [m for m in manifests_under(spec.build_dir, skip=objects.parent)
            if not any(d == m.resolve() or d in m.resolve().parents for d in doomed)]
    keep = referenced_by(kept)
    gone = {name: size for name, size in store.chunks(objects).items() if name not in keep}
    cleaned.chunks += len(gone)
    cleaned.freed += sum(gone.values())
    if not dry_run:
        store.remove_chunks(objects, gone)
        if store.remote:
            sweep(objects, kept)  # and what this machine's mirror holds beyond the location
        for empty in (objects, objects.parent):
            try:
                empty.rmdir()
            except OSError:
                pass


def _remote_only(store: Store, spec: Spec, paths: list[Path]) -> list[Path]:
    """Top-level entries of a remote build location that its mirror lacks (``--all``)."""
    listed = store.names_in(spec.build_dir)
    local = {p.name for p in paths} | ({p.name for p in spec.build_dir.iterdir()} if spec.build_dir.is_dir() else set())
    kept = {f for folders in others(spec).values() for f in folders}
    return [spec.build_dir / name for name in sorted(listed - local - {STORE_DIR})
            if not any((spec.build_dir / name) in k.parents for k in kept)]


def _size(path: Path) -> int:
    """Bytes held under ``path`` (links not followed)."""
    if path.is_symlink() or not path.exists():
        return 0
    if not path.is_dir():
        return path.stat().st_size
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total
