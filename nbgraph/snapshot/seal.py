"""Sealing a snapshot: hash its large buffers once, bind it to its variant, sign it in.

The kernel that writes a snapshot in a run hashes only its pickle stream (see
:mod:`.manifest`).  The runner, which knows the variant, its key and the run, seals the
snapshot as soon as the kernel is done: one read of ``buffers.bin`` hashes every buffer,
and the manifest is signed again with those sha256s and its *binding* (the variant, key
and run it was made for), before any child can load it.  A live kernel's dump for an
``attach: true`` node is sealed first and bound once its content key is known.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_bytes
from . import sign
from .manifest import BUFFERS, MANIFEST, STREAM, read_manifest, refuse


def seal_snapshot(path: Path, *, bind: dict[str, Any] | None = None,
                  expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Hash the buffers of a snapshot written with ``seal=False`` and sign them in (atomically).

    ``bind``: the binding to sign in (the runner, for the snapshot its job just wrote).
    A snapshot already sealed is fully verified instead, against ``expect`` (or ``bind``):
    the scheduler's check of a parent's snapshot from an earlier run.  Returns the manifest.
    """
    from .buffers import hash_buffers

    path = Path(path)
    manifest = read_manifest(path, check_files=STREAM, expect=expect)
    if manifest.get("sealed"):
        wanted = expect if expect is not None else bind
        return read_manifest(path, check_files=True, expect=wanted)
    digests, problem = hash_buffers(path / BUFFERS, manifest["buffers"], manifest["files"][BUFFERS]["size"])
    if problem:
        raise refuse(path, f"file {BUFFERS} {problem}")
    for entry, digest in zip(manifest["buffers"], digests):
        entry[2] = digest
    finish_digests(manifest["entries"], manifest["buffers"])
    manifest["sealed"] = True
    if bind is not None:
        manifest["binding"] = dict(bind)
    manifest = _write(path, manifest)
    from . import checked

    checked.remember(path, manifest)  # every byte was just read
    return manifest


def bind_snapshot(path: Path, manifest: dict[str, Any], binding: dict[str, Any]) -> dict[str, Any]:
    """Sign ``binding`` into the sealed ``manifest`` of ``path`` (just verified by the caller).

    For a dump whose key is its content (``attach: true``): known only once it is sealed.
    """
    path = Path(path)
    manifest = _write(path, {**manifest, "binding": dict(binding)})
    from . import checked

    checked.remember(path, manifest)  # the note names the manifest's signature, which changed
    return manifest


def finish_digests(entries: list[dict[str, Any]], buffer_entries: list[list[Any]]) -> None:
    """Each variable's ``digest``, once every buffer's sha256 is known (else None for now)."""
    for entry in entries:
        parts = entry.get("digest_of")
        digest = None
        if parts is not None:
            shas = [buffer_entries[i][2] for i in parts[1]]
            if None not in shas:
                digest = hashlib.sha256("".join([parts[0], *shas]).encode()).hexdigest()
        entry["digest"] = digest


def _write(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in manifest.items() if k != "hmac"}
    signed = sign.sign(body)
    atomic_write_bytes(path / MANIFEST, json.dumps(signed, indent=1, sort_keys=True).encode(), mode=0o600)
    return signed
