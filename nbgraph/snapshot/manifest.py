"""The signed manifest of a snapshot, and what is checked when.

``manifest.json`` holds the format version, the Python/cloudpickle/dill/numpy versions
that wrote the snapshot, the variables (type, size, where each lies in the stream,
a content digest) and those skipped, the size and sha256 of ``state.pkl``, per
out-of-band buffer its size and the names of its chunks (see :mod:`.chunks`), where the
chunk store lies relative to the snapshot folder (``objects``), and for a snapshot of a
graph run its *binding*: the variant, key and run it was made for.  It is signed with
HMAC-SHA256 under the user's key (:mod:`.sign`).  A chunk's name is the BLAKE3 of its
bytes, so the signed list of names vouches for every byte of every buffer.

The signature says nbgraph wrote the snapshot; the binding says for whom.  Every
snapshot of a graph run is sealed by the runner with its binding (see ``.seal``), and
whoever loads one for a variant's record (the scheduler, the child kernel, ``status``,
``inherit_from(variant, spec=...)``) passes the record's binding as ``expect``: a
snapshot copied over from a sibling variant, or left by another run, is refused
(an unbound one too), however sound its bytes.

Who hashes what, and what is checked when:

* The kernel names each chunk by hashing it as it writes it (beside the write, outside
  the GIL), names chunks it mapped and never wrote without reading them, hashes the
  pickle stream and signs the manifest.
* The runner seals the snapshot as soon as the kernel is done (``run_job``, before any
  child starts): the chunks the kernel wrote are trusted for this run (it hashed their
  bytes), the others it references are checked unless this run already did, and the
  manifest is signed again with its binding (``seal.seal_snapshot``).  A snapshot from
  an earlier run is instead verified in full by the scheduler before its first child.

``check_files`` of :func:`read_manifest`:

* ``False``: signature, format and versions only (cheap: status, cache decisions).
* ``"stream"``: also the size and sha256 of ``state.pkl`` and that every chunk is there
  with its size.  This is what a child kernel checks inside a run, after the runner's
  full check: no child re-reads a 1 GiB array whose pages it may never touch.
* ``True``: everything, every chunk hashed (refused if never sealed), each chunk once per
  process and each snapshot once per machine and file version (see ``checked``).

The binding (``expect``) is compared on the signed manifest at every level, a
remembered check included: the notes only ever stand for the chunks' bytes.

The pickle stream, the only part that can run code when loaded, is always hashed from
the very bytes that are then unpickled, and is signed by the kernel that wrote it.
Chunks are raw array memory: a change made to one after its check could alter
numbers, never run code.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from ..errors import SnapshotError
from . import sign
from .chunks import chunk_path

FORMAT_VERSION = 4  # 3: graph snapshots carry a signed binding; 4: buffers are shared chunks
MANIFEST = "manifest.json"
STATE = "state.pkl"
STREAM = "stream"

REMEDY = "re-run its notebook with --force"


def refuse(path: Path, problem: str, *, versions: bool = False) -> SnapshotError:
    """The one-line error for a snapshot that cannot be used, naming it and the remedy.

    ``problem`` and ``versions`` (another nbgraph/Python/cloudpickle wrote it) stay on the
    error, so that a caller whose snapshot no notebook run produced (a live kernel's dump)
    can give its own remedy instead.
    """
    return SnapshotError(f"{path}: {problem}; {REMEDY}", path=str(path), problem=problem, versions=versions)


def binding(variant: str, key: str | None, run: str | None) -> dict[str, Any]:
    """What a graph snapshot is signed as being made for: a variant's name, its key, the run."""
    return {"variant": variant, "key": key, "run": run}


def read_manifest(path: Path, *, check_files: bool | str = True,
                  expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """The verified manifest of a snapshot folder; raises :class:`SnapshotError` otherwise.

    ``expect``: the :func:`binding` of the record that names this snapshot.
    """
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise SnapshotError(f"{path}: no snapshot here (missing {MANIFEST}); run its notebook first",
                            path=str(path)) from None
    except (OSError, ValueError) as e:
        raise refuse(path, f"unreadable snapshot manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise refuse(path, "corrupt snapshot manifest")
    sign.verify_manifest(manifest, path)
    check_versions(manifest, path)
    if expect is not None:
        check_binding(path, manifest, expect)
    if check_files:
        check_stream(path, manifest, (path / STATE).read_bytes() if (path / STATE).is_file() else None)
        if check_files == STREAM:
            check_buffer_size(path, manifest)
        else:
            check_buffers(path, manifest)
    return manifest


def objects_of(path: Path, manifest: dict[str, Any]) -> Path:
    """The chunk store a snapshot's buffers are in (a path relative to the snapshot folder)."""
    import os

    return Path(os.path.normpath(Path(path) / str(manifest.get("objects") or "objects")))


def chunk_refused(path: Path, manifest: dict[str, Any], name: str, why: str) -> SnapshotError:
    """The one line for a chunk that cannot be used: the snapshot, the chunk file, the remedy."""
    where = objects_of(path, manifest)
    return refuse(path, f"chunk {name[:16]} ({chunk_path(where, name)}) {why}")


def check_buffers(path: Path, manifest: dict[str, Any]) -> None:
    """Every chunk against its name, unless this process or (for this snapshot) this machine did."""
    from . import checked

    if manifest.get("sealed") is False and manifest.get("buffers"):
        raise refuse(path, "snapshot was never sealed (its run was interrupted)")
    objects = objects_of(path, manifest)
    if checked.remembered(path, objects, manifest):
        return
    bad = checked.bad_chunk(objects, manifest)
    if bad is not None:
        discard_chunk(objects, bad[0])
        raise chunk_refused(path, manifest, *bad)
    checked.remember(path, objects, manifest)


def discard_chunk(objects: Path, name: str) -> None:
    """A chunk that is not what its name says is of use to nobody: remove it, so a re-run writes it anew."""
    try:
        chunk_path(objects, name).unlink(missing_ok=True)
    except OSError:
        pass


def check_versions(manifest: dict[str, Any], path: Path) -> None:
    """Refuse a snapshot another format, Python or cloudpickle wrote (it may not load, or load wrong)."""
    if manifest.get("format") != FORMAT_VERSION:
        raise refuse(path, f"snapshot format {manifest.get('format')} is not {FORMAT_VERSION} "
                           "(written by another nbgraph version)", versions=True)
    here = ".".join(platform.python_version().split(".")[:2])
    if not str(manifest.get("python", "")).startswith(here + "."):
        raise refuse(path, f"snapshot was written by Python {manifest.get('python')}, "
                           f"this is Python {platform.python_version()}", versions=True)
    wrote = manifest.get("cloudpickle")
    if wrote and _major_minor(wrote) != _major_minor(_cloudpickle_version()):
        raise refuse(path, f"snapshot was written with cloudpickle {wrote}, "
                           f"this is cloudpickle {_cloudpickle_version()}", versions=True)


def check_binding(path: Path, manifest: dict[str, Any], expect: dict[str, Any]) -> None:
    """Refuse a signed snapshot made for another variant, key or run than the record names."""
    got = manifest.get("binding")
    if got == expect:
        return
    variant = expect.get("variant")
    if not isinstance(got, dict):
        problem = f"snapshot is not bound to variant {variant} (written outside a run of it)"
    elif got.get("variant") != variant:
        problem = f"snapshot was made for variant {got.get('variant')}, not {variant}"
    elif got.get("key") != expect.get("key"):
        problem = f"snapshot was made for other inputs of {variant} than its record names"
    else:
        problem = f"snapshot was made by another run of {variant} than its record names"
    raise refuse(path, problem)


def check_stream(path: Path, manifest: dict[str, Any], data: bytes | None) -> None:
    """The pickle stream's bytes are the signed ones (it is read whole anyway)."""
    import hashlib

    expected = manifest.get("files", {}).get(STATE, {})
    if data is None or len(data) != expected.get("size") or \
            hashlib.sha256(data).hexdigest() != expected.get("sha256"):
        raise refuse(path, f"file {STATE} is missing or was altered")


def check_buffer_size(path: Path, manifest: dict[str, Any]) -> None:
    """Catch a missing or truncated chunk without reading it."""
    from .checked import identity
    from .chunks import chunks_of

    objects = objects_of(path, manifest)
    for name, size in chunks_of(manifest).items():
        found = identity(chunk_path(objects, name))
        if found is None or found[2] != size:
            raise chunk_refused(path, manifest, name, "is missing" if found is None else "was altered (size)")


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _cloudpickle_version() -> str:
    import cloudpickle

    return cloudpickle.__version__
