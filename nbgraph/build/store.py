"""The build location: a local folder (the default) or any fsspec URL every worker can reach.

nbgraph always works on local files: snapshots are verified (signature, sha256) and
loaded lazily from local disk, notebooks are executed into local files.  A remote build
location (``s3://bucket/prefix``, ``gcs://...``) is therefore *mirrored*: each machine
keeps a local cache folder with the same layout (``$NBGRAPH_CACHE_DIR``, else
``~/.cache/nbgraph``), downloads what it needs, and publishes what it produced.

Locations are written as *refs*: a local absolute path for a local build folder, a URL
for a remote one.  Records in the remote location hold URLs; their copies in the mirror
hold the mirror's paths.  A snapshot folder is published file by file with its signed
manifest last, so a reader that sees the manifest sees the whole snapshot; it is only
ever loaded after its signature and every file's sha256 are checked locally.

A shared folder mounted on every machine needs none of this: give its path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterable

from ..fsutil import find_partials

#: a variant's commit point (see :mod:`nbgraph.build.records`), the file mirrored to find a build's records
RECORD = "record.json"


def is_url(location: str) -> bool:
    """True for a location that is not a plain local path (``file://`` counts as local)."""
    return "://" in location and not location.startswith("file://")


def cache_root() -> Path:
    override = os.environ.get("NBGRAPH_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nbgraph"


def mirror_dir(url: str) -> Path:
    """This machine's local mirror of a remote build location."""
    url = url.rstrip("/")
    return cache_root() / "builds" / hashlib.sha256(url.encode()).hexdigest()[:16]


class Store(ABC):
    """Where a build's files live.  ``root`` is always a local folder nbgraph reads and writes.

    Contract (one test suite runs it against every implementation):

    * ``ref(path)`` / ``local(ref)`` convert between a local path under ``root`` and the
      ref stored in records and jobs; both accept either form and are idempotent.
    * ``fetch(ref)`` makes a file, or a snapshot folder with the chunks it references,
      present under ``root`` and returns its local path (only chunks missing here are
      downloaded); ``fetch(ref, manifest_only=True)`` fetches only a snapshot's manifest.
    * ``publish(path)`` makes a local file or snapshot folder visible at its ref (a
      snapshot's chunks first, only those the location lacks, its manifest last).
    * ``pull_records()`` brings every variant's record (and what ``status`` needs to judge
      it) into ``root``; ``push_record(path)`` publishes one record.
    * ``remove(ref)`` deletes a file or folder at the location and in ``root``.
    * ``names_in(folder)`` lists the entries of a folder of ``root`` as the location holds it;
      ``chunks(objects)`` the chunks of a chunk store there (name -> size), and
      ``remove_chunks(objects, names)`` deletes some, there and in ``root`` (``clean``).
    """

    location: str
    root: Path
    remote: bool = False

    @abstractmethod
    def ref(self, path: str | Path) -> str: ...

    @abstractmethod
    def local(self, ref: str | Path) -> Path: ...

    @abstractmethod
    def fetch(self, ref: str | Path, *, manifest_only: bool = False) -> Path: ...

    @abstractmethod
    def publish(self, path: str | Path) -> str: ...

    @abstractmethod
    def pull_records(self) -> int: ...

    @abstractmethod
    def push_record(self, path: str | Path) -> None: ...

    @abstractmethod
    def remove(self, ref: str | Path) -> None: ...

    def names_in(self, folder: Path) -> set[str]:
        return {p.name for p in Path(folder).iterdir()} if Path(folder).is_dir() else set()

    def chunks(self, objects: Path) -> dict[str, int]:
        objects = Path(objects)
        if not objects.is_dir():
            return {}
        return {c.name: c.stat().st_size for c in objects.glob("*/*") if not c.name.startswith(".")}

    def remove_chunks(self, objects: Path, names: Iterable[str]) -> None:
        from ..snapshot.chunks import chunk_path

        for name in names:
            chunk_path(objects, name).unlink(missing_ok=True)


class LocalStore(Store):
    """A folder on this machine (or one mounted on every machine): every operation is local."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def ref(self, path: str | Path) -> str:
        return str(path)

    def local(self, ref: str | Path) -> Path:
        return Path(ref)

    def fetch(self, ref: str | Path, *, manifest_only: bool = False) -> Path:
        return Path(ref)

    def publish(self, path: str | Path) -> str:
        return str(path)

    def pull_records(self) -> int:
        return 0

    def push_record(self, path: str | Path) -> None:
        pass

    def remove(self, ref: str | Path) -> None:
        remove_local(Path(ref))


def remove_local(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_partials(root: Path) -> int:
    """Remove temporary files and folders a killed run left behind (only under the run lock)."""
    found = find_partials(root)
    for path in found:
        remove_local(path)
    return len(found)
