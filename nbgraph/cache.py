"""Content keys for variants and the up-to-date decision, with its reason.

A variant's key hashes what determines its result: the notebook's code cells (not
outputs or metadata), its parameters, its kernel, the snapshot format, what it passes
down (exclude) and its parents' keys.  A variant is up to date when its last record
succeeded under the same key and its executed notebook and signed snapshot are there.
The decision carries the reason, so ``status`` and ``run --dry-run`` can say why.
What a variant used besides its notebook (modules, files, packages: known only once it
ran) is compared after the key, by :func:`nbgraph.plan.used_since` (see ``nbgraph.deps``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import SnapshotError, SpecError
from .graph import Variant
from .nbfile import kernel_for, read_notebook
from .build.records import FAILED, SKIPPED, SUCCEEDED, Record
from .snapshot.format import FORMAT_VERSION
from .spec import NodeSpec, Spec


@dataclass(frozen=True)
class Decision:
    """Whether a variant must run, and why (``reason`` is shown to users as is)."""

    stale: bool
    reason: str
    key: str
    parts: Mapping[str, Any]
    #: what changed without making it stale (a package's version with ``track_packages: false``)
    notes: tuple[str, ...] = ()


def digest(data: Any) -> str:
    """sha256 of plain data, the same for equal data (keys sorted; anything else as its text)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=256)
def _code_digest(code: tuple[str, ...]) -> str:
    """Hashed once per notebook version, not once per variant of it."""
    return digest(list(code))


def key_parts(spec: Spec, node: NodeSpec, variant: Variant, parent_keys: list[str]) -> dict[str, Any]:
    notebook = read_notebook(node.path)
    if notebook.complaint:  # it changed since the spec was loaded
        raise SpecError.at(spec.file, notebook.complaint, line=node.line, node=node.name, field="path")
    return {
        "code": _code_digest(notebook.code),
        "params": digest(dict(variant.own_params)),
        "kernel": kernel_for(node.path, spec.node_kernel(node)),
        "format": FORMAT_VERSION,
        "passes": digest({"exclude": sorted(node.exclude), "snapshot": node.snapshot}),
        "parents": list(parent_keys),
    }


def key_of(parts: Mapping[str, Any]) -> str:
    return digest(parts)


def result_id(record: Record) -> str:
    """Which run of a parent a child started from: its key *and* when that run finished.

    A child's key holds its parents' result ids, not their keys, so a parent that re-ran
    with unchanged inputs (``--force``, or a notebook that draws new data) still makes its
    children stale: they were built on a snapshot that no longer exists.
    """
    return digest([record.key, record.finished])


def with_parent_results(parts: Mapping[str, Any], parents: list[Record]) -> tuple[str, dict[str, Any]]:
    """The final key of a variant once its parents' results are known (at run time)."""
    final = dict(parts)
    final["parents"] = [result_id(r) for r in parents]
    return key_of(final), final


_PART_REASONS = {
    "code": "code changed",
    "params": "parameters changed",
    "kernel": "kernel changed",
    "format": "snapshot format changed",
    "passes": "exclude or snapshot settings changed",
    "parents": "parent re-ran",
}


def decide(parts: Mapping[str, Any], record: Record | None, *, needs_snapshot: bool,
           parent_reruns: list[str], force: bool = False) -> Decision:
    """Up to date or stale, with the first reason that applies."""
    key = key_of(parts)

    def stale(reason: str) -> Decision:
        return Decision(True, reason, key, parts)

    if force:
        return stale("--force")
    if record is None:
        return stale("never ran")
    if parent_reruns:
        return stale(f"parent {parent_reruns[0]} will re-run")
    if record.status == FAILED:
        return stale("failed last time")
    if record.status == SKIPPED:
        return stale("skipped last time (a parent failed)")
    if record.status != SUCCEEDED:
        return stale("never finished")
    if record.key != key:
        old = record.key_parts or {}
        for part, reason in _PART_REASONS.items():
            if old.get(part) != parts.get(part):
                return stale(reason)
        return stale("inputs changed")
    if not record.output or not Path(record.output).is_file():
        return stale("executed notebook is missing")
    if needs_snapshot:
        problem = _snapshot_problem(record)
        if problem:
            return stale(problem)
    return Decision(False, "up to date", key, parts)


def _snapshot_problem(record: Record) -> str | None:
    """Why the record's snapshot cannot serve its children: None for a signed manifest of the
    current format, bound to this record, whose files (and, in a local build, chunks) are there.

    Hashing the chunks themselves is left to the load (it verifies before unpickling), so
    a no-op run stays fast however big the snapshots are.  The binding is not: a snapshot
    copied over from another variant is not this record's, however sound its files.
    """
    from .snapshot.format import read_manifest

    path = record.snapshot
    invalid = "snapshot is missing or invalid"
    if not path:
        return invalid
    try:
        manifest = read_manifest(Path(path), check_files=False, expect=record.binding)
    except SnapshotError as e:
        if str(e.fields.get("problem", "")).startswith("snapshot format"):
            return "snapshot format changed (written by another nbgraph version)"
        return invalid
    from .build.remote import present  # a remote build's files may be in its bucket only

    if not all(present(Path(path) / name) for name in manifest.get("files", {})):
        return invalid
    if not _chunks_present(Path(path), manifest):
        return "snapshot is missing chunks of its arrays"
    return None


def _chunks_present(path: Path, manifest: dict[str, Any]) -> bool:
    from .snapshot.checked import identity
    from .snapshot.chunks import chunks_of
    from .snapshot.chunks import chunk_path
    from .snapshot.manifest import objects_of
    from .build.remote import present

    objects = objects_of(path, manifest)
    for name, size in chunks_of(manifest).items():
        found = identity(chunk_path(objects, name))
        if found is None and present(chunk_path(objects, name)):
            continue  # in the bucket of a remote build, not downloaded yet
        if found is None or found[2] != size:
            return False
    return True


_NEVER_ATTACHED = {"attached": None}


def attached_decision(record: Record | None) -> Decision:
    """How ``plan`` sees an attached variant: always re-snapshotted, keyed by its last snapshot."""
    if record is not None and record.status == SUCCEEDED and record.snapshot and record.key:
        taken = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.finished)) if record.finished else "?"
        return Decision(True, f"attached: re-snapshotted from its live kernel on every run (last {taken})",
                        record.key, dict(record.key_parts))
    return Decision(True, "attached: not snapshotted yet (open its notebook in Jupyter and run its cells)",
                    key_of(_NEVER_ATTACHED), dict(_NEVER_ATTACHED))
