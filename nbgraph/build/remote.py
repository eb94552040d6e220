"""A remote build location through fsspec (``s3://``, ``gcs://``...), mirrored on each machine.

See :mod:`.store` for refs and mirrors.  Snapshots travel as their files plus the chunks
their manifest lists: a chunk's name is its content, so a machine uploads only the chunks
the location lacks (listed once per store) and downloads only those its mirror lacks.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import StoreError
from ..extras import install_hint
from ..fsutil import make_dirs
from ..snapshot.manifest import MANIFEST
from .store import RECORD, Store, mirror_dir, remove_local


class FsspecStore(Store):
    """A remote location through fsspec, mirrored in a local cache folder."""

    remote = True

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None, root: Path | None = None) -> None:
        from ..extras import require

        fsspec = require("fsspec", "s3", f"build location {url}")
        self.location = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.root = Path(root) if root else mirror_dir(self.location)
        protocol = self.location.split("://", 1)[0]
        try:
            self.fs, self.base = fsspec.core.url_to_fs(self.location, **self.storage_options)
        except ImportError as e:
            raise StoreError(f"build location {url}: fsspec has no driver for '{protocol}://' ({e}); "
                             f"for s3:// install it with: {install_hint('s3')}", location=url) from None
        except Exception as e:
            raise StoreError(f"build location {url}: {type(e).__name__}: {e}", location=url) from None
        make_dirs(self.root)
        _mirrors[self.root] = self
        self._chunks: dict[str, int] | None = None
        self.uploaded_chunks = self.downloaded_chunks = 0

    # refs ------------------------------------------------------------------------------
    def _rel(self, ref: str | Path) -> str:
        text = str(ref)
        if text.startswith(self.location + "/"):
            return text[len(self.location) + 1:]
        try:
            return Path(text).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            raise StoreError(f"{text} is neither under {self.location} nor under its local mirror {self.root}",
                             location=self.location) from None

    def ref(self, path: str | Path) -> str:
        return f"{self.location}/{self._rel(path)}"

    def local(self, ref: str | Path) -> Path:
        return self.root / self._rel(ref)

    def _remote(self, ref: str | Path) -> str:
        return f"{self.base.rstrip('/')}/{self._rel(ref)}"

    # transfer --------------------------------------------------------------------------
    def _get_file(self, remote: str, local: Path) -> None:
        make_dirs(local.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{local.name}.", suffix=".partial", dir=local.parent)
        os.close(fd)
        try:
            self.fs.get_file(remote, tmp)
            os.replace(tmp, local)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def fetch(self, ref: str | Path, *, manifest_only: bool = False) -> Path:
        local = self.local(ref)
        remote = self._remote(ref)
        try:
            if not local.name.startswith("snapshot-"):
                if not local.is_file() or local.stat().st_size != self.fs.info(remote).get("size"):
                    self._get_file(remote, local)
                return local
            self._get_file(f"{remote}/{MANIFEST}", local / MANIFEST)
            if manifest_only:
                return local
            manifest = json.loads((local / MANIFEST).read_text())
            from ..snapshot.sign import file_sha256

            for name, expected in manifest.get("files", {}).items():
                target = local / name
                if not (target.is_file() and isinstance(expected, dict) and file_sha256(target) == expected.get("sha256")):
                    self._get_file(f"{remote}/{name}", target)
            self._fetch_chunks(local, manifest)
            os.chmod(local, 0o700)
            return local
        except FileNotFoundError:
            raise StoreError(f"{self.ref(ref)} does not exist; run its notebook first", location=self.location) from None
        except (OSError, ValueError) as e:
            raise StoreError(f"cannot fetch {self.ref(ref)}: {type(e).__name__}: {e}", location=self.location) from None

    def _fetch_chunks(self, local: Path, manifest: dict[str, Any]) -> None:
        """Download the snapshot's chunks this machine lacks (a chunk's name is its content)."""
        from ..snapshot.chunks import chunks_of
        from ..snapshot.chunks import chunk_path
        from ..snapshot.manifest import objects_of

        objects = objects_of(local, manifest)
        for name, size in chunks_of(manifest).items():
            target = chunk_path(objects, name)
            try:
                if target.stat().st_size == size:
                    continue
            except FileNotFoundError:
                pass
            self._get_file(self._remote(target), target)
            self.downloaded_chunks += 1

    def publish(self, path: str | Path) -> str:
        """Upload a file, or a snapshot folder: the chunks the location lacks, its files, its manifest last."""
        local = Path(path)
        remote = self._remote(local)
        try:
            if local.is_dir():
                if (local / MANIFEST).exists():
                    self._publish_chunks(local)
                names = sorted(p.name for p in local.iterdir()
                               if p.is_file() and p.name != MANIFEST and not p.name.startswith("."))
                for name in names + ([MANIFEST] if (local / MANIFEST).exists() else []):
                    self.fs.put_file(str(local / name), f"{remote}/{name}")
            else:
                self.fs.put_file(str(local), remote)
        except OSError as e:
            raise StoreError(f"cannot publish {self.ref(local)}: {type(e).__name__}: {e}", location=self.location) from None
        return self.ref(local)

    def _publish_chunks(self, local: Path) -> None:
        from ..snapshot.chunks import chunk_path, chunks_of
        from ..snapshot.manifest import objects_of

        manifest = json.loads((local / MANIFEST).read_text())
        objects = objects_of(local, manifest)
        there = self.chunks(objects)
        for name in chunks_of(manifest):
            if name not in there:
                self.fs.put_file(str(chunk_path(objects, name)), self._remote(chunk_path(objects, name)))
                there[name] = 0
                self.uploaded_chunks += 1

    def chunks(self, objects: Path) -> dict[str, int]:
        """The chunks at the location (name -> size), listed once per store and kept up to date."""
        if self._chunks is None:
            try:
                listed = self.fs.find(self._remote(objects), detail=True)
            except FileNotFoundError:
                listed = {}
            self._chunks = {p.rsplit("/", 1)[-1]: int(info.get("size") or 0) for p, info in listed.items()
                            if not p.rsplit("/", 1)[-1].startswith(".")}
        return self._chunks

    def remove_chunks(self, objects: Path, names: Iterable[str]) -> None:
        from ..snapshot.chunks import chunk_path

        names = list(names)
        if names:
            self.fs.rm([self._remote(chunk_path(objects, name)) for name in names])
        super().remove_chunks(objects, names)
        for name in names:
            (self._chunks or {}).pop(name, None)

    def names_in(self, folder: Path) -> set[str]:
        try:
            return {p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self._remote(folder), detail=False)}
        except FileNotFoundError:
            return set()

    # records ---------------------------------------------------------------------------
    def pull_records(self) -> int:
        """Mirror every record, with its executed notebook and snapshot manifest; returns how many."""
        from ..fsutil import atomic_write_json

        try:
            found = self.fs.glob(f"{self.base.rstrip('/')}/**/{RECORD}")
        except FileNotFoundError:
            found = []
        except OSError as e:
            raise StoreError(f"cannot list {self.location}: {type(e).__name__}: {e}", location=self.location) from None
        for remote in found:
            rel = remote[len(self.base.rstrip("/")) + 1:] if remote.startswith(self.base.rstrip("/")) else remote
            try:
                data = json.loads(self.fs.cat_file(remote))
            except (OSError, ValueError):
                continue
            for key in ("output", "snapshot"):
                ref = data.get(key)
                if not ref:
                    continue
                try:
                    data[key] = str(self.fetch(ref, manifest_only=True))
                except StoreError:
                    data[key] = str(self.local(ref))  # gone: the decision will say so
            atomic_write_json(self.root / rel, data)
        return len(found)

    def push_record(self, path: str | Path) -> None:
        path = Path(path)
        data = json.loads(path.read_text())
        for key in ("output", "snapshot"):
            if data.get(key):
                data[key] = self.ref(data[key])
        try:
            self.fs.pipe_file(self._remote(path), (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
        except OSError as e:
            raise StoreError(f"cannot publish {self.ref(path)}: {type(e).__name__}: {e}", location=self.location) from None

    def remove(self, ref: str | Path) -> None:
        try:
            self.fs.rm(self._remote(ref), recursive=True)
        except FileNotFoundError:
            pass
        remove_local(self.local(ref))


#: mirror root -> the remote store it mirrors, for :func:`present`
_mirrors: dict[Path, "FsspecStore"] = {}


def present(path: str | Path) -> bool:
    """Whether a build file exists: locally, or at the remote location its mirror stands for.

    Lets the up-to-date check accept a snapshot whose files are in the bucket but not yet
    downloaded to this machine (only its manifest is, when records are pulled).
    """
    path = Path(path)
    if path.exists():
        return True
    for root, store in list(_mirrors.items()):
        if root == path or root in path.parents:
            try:
                return bool(store.fs.exists(store._remote(path)))
            except OSError:
                return False
    return False


