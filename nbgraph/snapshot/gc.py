"""Garbage collection of a chunk store: keep what a snapshot references, remove the rest.

Mark and sweep.  The marks come from every snapshot manifest kept beside the store
(read without checking signatures: a forged manifest could only keep chunks alive),
so a chunk shared by a kept snapshot always survives.  The caller must make sure no
snapshot is being written meanwhile (a kernel writes its chunks before its manifest):
``nbgraph clean`` sweeps under the build lock.  A chunk a process has mapped stays
readable by it after removal (the kernel keeps the file until it is unmapped).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .chunks import chunks_of
from .manifest import MANIFEST


@dataclass
class Swept:
    """What a sweep removed (or would remove, for a dry run)."""

    chunks: int = 0
    bytes: int = 0


def manifests_under(root: Path, skip: Path | None = None) -> list[Path]:
    """Every snapshot folder (a folder holding a manifest) under ``root``, but not under ``skip``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == skip.parent:
            dirnames[:] = [d for d in dirnames if Path(dirpath) / d != skip]
        if MANIFEST in filenames:
            found.append(Path(dirpath))
    return found


def referenced_by(snapshots: Iterable[Path]) -> set[str]:
    """The chunk names the manifests of ``snapshots`` list (unreadable ones list none)."""
    names: set[str] = set()
    for folder in snapshots:
        try:
            names.update(chunks_of(json.loads((Path(folder) / MANIFEST).read_bytes())))
        except (OSError, ValueError, TypeError, AttributeError):  # unreadable, or an earlier format
            continue
    return names


def unreferenced(objects: Path, keep: set[str]) -> list[Path]:
    """Chunk files of ``objects`` not in ``keep`` (temporaries are ``clean_partials``' to remove)."""
    objects = Path(objects)
    if not objects.is_dir():
        return []
    return [chunk for prefix in sorted(objects.iterdir()) if prefix.is_dir()
            for chunk in sorted(prefix.iterdir()) if not chunk.name.startswith(".") and chunk.name not in keep]


def sweep(objects: Path, snapshots: Iterable[Path], *, dry_run: bool = False) -> Swept:
    """Remove the chunks of ``objects`` that none of ``snapshots`` references."""
    swept = Swept()
    for chunk in unreferenced(objects, referenced_by(snapshots)):
        try:
            size = chunk.stat().st_size
            if not dry_run:
                chunk.unlink()
        except FileNotFoundError:
            continue
        swept.chunks += 1
        swept.bytes += size
    if not dry_run and Path(objects).is_dir():
        for prefix in Path(objects).iterdir():
            try:
                prefix.rmdir()  # only when emptied
            except OSError:
                pass
    return swept
