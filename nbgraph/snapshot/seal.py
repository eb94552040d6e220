"""Sealing a snapshot: check what its kernel did not write, bind it to its variant, sign it in.

The kernel that writes a snapshot in a run names every chunk it writes by hashing it
(see :mod:`.chunks`).  The runner, which knows the variant, its key and the run, seals
the snapshot as soon as the kernel is done: the chunks that kernel wrote are trusted for
the run, those it referenced without writing (inherited pages it never touched) are
checked unless this run already did, and the manifest is signed again with its
*binding* (the variant, key and run it was made for), before any child can load it.  A
live kernel's dump for an ``attach: true`` node is sealed first and bound once its
content key is known.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_bytes
from . import sign
from .manifest import MANIFEST, STREAM, read_manifest


def seal_snapshot(path: Path, *, bind: dict[str, Any] | None = None,
                  expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check and sign in a snapshot its kernel wrote unsealed (atomically); returns the manifest.

    ``bind``: the binding to sign in (the runner, for the snapshot its job just wrote).
    A snapshot already sealed is fully verified instead, against ``expect`` (or ``bind``):
    the scheduler's check of a parent's snapshot from an earlier run.
    """
    from . import checked
    from .manifest import chunk_refused, discard_chunk, objects_of

    path = Path(path)
    manifest = read_manifest(path, check_files=STREAM, expect=expect)
    if manifest.get("sealed"):
        wanted = expect if expect is not None else bind
        return read_manifest(path, check_files=True, expect=wanted)
    objects = objects_of(path, manifest)
    checked.trust(objects, manifest.get("wrote", []))
    bad = checked.bad_chunk(objects, manifest)
    if bad is not None:
        discard_chunk(objects, bad[0])
        raise chunk_refused(path, manifest, *bad)
    manifest["sealed"] = True
    if bind is not None:
        manifest["binding"] = dict(bind)
    manifest = _write(path, manifest)
    checked.remember(path, objects, manifest)
    return manifest


def bind_snapshot(path: Path, manifest: dict[str, Any], binding: dict[str, Any]) -> dict[str, Any]:
    """Sign ``binding`` into the sealed ``manifest`` of ``path`` (just verified by the caller).

    For a dump whose key is its content (``attach: true``): known only once it is sealed.
    """
    path = Path(path)
    manifest = _write(path, {**manifest, "binding": dict(binding)})
    from . import checked
    from .manifest import objects_of

    checked.remember(path, objects_of(path, manifest), manifest)  # the note names the manifest's signature
    return manifest


def finish_digests(entries: list[dict[str, Any]], buffer_entries: list[list[Any]]) -> None:
    """Each variable's ``digest``: its stream part's hash and its buffers' chunk names."""
    for entry in entries:
        parts = entry.get("digest_of")
        digest = None
        if parts is not None:
            shas = ["".join(buffer_entries[i][1]) for i in parts[1]]
            if all(isinstance(s, str) for s in shas):
                digest = hashlib.sha256("".join([parts[0], *shas]).encode()).hexdigest()
        entry["digest"] = digest


def _write(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in manifest.items() if k != "hmac"}
    signed = sign.sign(body)
    atomic_write_bytes(path / MANIFEST, json.dumps(signed, indent=1, sort_keys=True).encode(), mode=0o600)
    return signed
