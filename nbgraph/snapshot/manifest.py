"""The signed manifest of a snapshot, and what is checked when.

``manifest.json`` holds the format version, the Python/cloudpickle/dill/numpy versions
that wrote the snapshot, the variables (type, size, where each lies in the stream,
a content digest) and those skipped, the size and sha256 of ``state.pkl``, the
offset, size and sha256 of every out-of-band buffer in ``buffers.bin``, and for a
snapshot of a graph run its *binding*: the variant, key and run it was made for.  It is
signed with HMAC-SHA256 under the user's key (:mod:`.sign`).

The signature says nbgraph wrote the snapshot; the binding says for whom.  Every
snapshot of a graph run is sealed by the runner with its binding (see ``.seal``), and
whoever loads one for a variant's record (the scheduler, the child kernel, ``status``,
``inherit_from(variant, spec=...)``) passes the record's binding as ``expect``: a
snapshot copied over from a sibling variant, or left by another run, is refused
(an unbound one too), however sound its bytes.

Who hashes what, and what is checked when:

* The kernel (``dump_namespace(..., seal=False)`` in a run) hashes the pickle stream
  and signs the manifest, but does not hash the large buffers: hashing 1 GiB costs
  more than writing it to the page cache.
* The runner seals the snapshot as soon as the kernel is done (``run_job``, in the
  executor's worker, before any child starts): one read of ``buffers.bin`` hashes
  every buffer, and the manifest is signed again with those sha256s and the binding
  (``seal.seal_snapshot``).  A snapshot from an earlier run is instead verified in
  full by the scheduler, once per run, before its first child starts.
  Outside a run, ``dump_namespace`` seals as it writes.

``check_files`` of :func:`read_manifest`:

* ``False``: signature, format and versions only (cheap: status, cache decisions).
* ``"stream"``: also the size and sha256 of ``state.pkl`` and the size of
  ``buffers.bin``.  This is what a child kernel checks inside a run, after the
  runner's full check: no child re-reads a 1 GiB file whose pages it may never touch.
* ``True``: everything, every byte of ``buffers.bin`` included (refused if never sealed),
  once per machine and file version: a signed note remembers it (see ``checked``).

The binding (``expect``) is compared on the signed manifest at every level, a
remembered check included: the note only ever stands for the bytes of ``buffers.bin``.

The pickle stream, the only part that can run code when loaded, is always hashed from
the very bytes that are then unpickled, and is signed by the kernel that wrote it.
``buffers.bin`` is raw array memory: a change made to it between the kernel's write
and the runner's seal (or after the runner's check) could alter numbers, never run code.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from ..errors import SnapshotError
from . import sign

FORMAT_VERSION = 3  # 3: graph snapshots carry a signed binding
MANIFEST = "manifest.json"
STATE = "state.pkl"
BUFFERS = "buffers.bin"
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


def check_buffers(path: Path, manifest: dict[str, Any]) -> None:
    """Every byte of ``buffers.bin`` against its signed sha256s, unless this machine already did."""
    from . import checked
    from .buffers import verify_buffers

    if checked.remembered(path, manifest):
        return
    problem = verify_buffers(path / BUFFERS, manifest["buffers"], manifest["files"][BUFFERS]["size"])
    if problem:
        raise refuse(path, f"file {BUFFERS} {problem}")
    checked.remember(path, manifest)


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
    """Catch a truncated or replaced ``buffers.bin`` without reading it."""
    try:
        size = (path / BUFFERS).stat().st_size
    except FileNotFoundError:
        size = None
    if size != manifest["files"][BUFFERS]["size"]:
        raise refuse(path, f"file {BUFFERS} is missing or was altered")


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _cloudpickle_version() -> str:
    import cloudpickle

    return cloudpickle.__version__
