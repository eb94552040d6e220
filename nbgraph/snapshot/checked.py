"""Checking chunks against their names: each once per process, and once per machine per snapshot.

A full check of a snapshot hashes every chunk it references.  Chunks are shared: one
held by 50 snapshots is hashed once in a run, because this process remembers each chunk
it checked (or that a kernel of this run named while writing it) as the filesystem knows
it: device, inode, size and change time.  Any write or replacement moves one of them,
and a user cannot set a change time back.

Across runs, a small note in the snapshot folder (``.checked``) records the same for
every chunk of that snapshot.  It is signed with the user's key and names the
manifest's signature, so it can be neither forged nor carried over to another snapshot;
on another machine it simply does not match.

The note stands for the chunks' bytes and nothing else: the signature, the versions and
the binding are checked on the manifest every time (``manifest.read_manifest``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable

from ..fsutil import atomic_write_bytes
from . import sign
from .chunks import chunk_hash, chunk_path, chunks_of

NOTE = ".checked"

#: chunk path -> its identity when this process last found its bytes match its name
_seen: dict[str, tuple[int, int, int, int]] = {}
_lock = threading.Lock()


def identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_ctime_ns


def trust(objects: Path, names: Iterable[str]) -> None:
    """Remember chunks as sound: a kernel of this run hashed their bytes as it wrote them."""
    with _lock:
        for name in names:
            path = chunk_path(objects, name)
            found = identity(path)
            if found is not None:
                _seen[str(path)] = found


def problem(objects: Path, name: str, size: int) -> str | None:
    """Why chunk ``name`` is not sound (missing, wrong size, bytes not its name), or None."""
    path = chunk_path(objects, name)
    found = identity(path)
    if found is None:
        return "is missing"
    if found[2] != size:
        return f"has {found[2]} bytes, not {size}"
    if _seen.get(str(path)) == found:
        return None
    with open(path, "rb") as fh:
        data = fh.read()
    if chunk_hash(data) != name:
        return "does not match its name (altered or damaged)"
    with _lock:
        _seen[str(path)] = found
    return None


def bad_chunk(objects: Path, manifest: dict[str, Any]) -> tuple[str, str] | None:
    """The first chunk of a snapshot that is not sound, and why; None when all are."""
    for name, size in chunks_of(manifest).items():
        why = problem(objects, name, size)
        if why is not None:
            return name, why
    return None


def _identities(objects: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    found = {}
    for name in sorted(chunks_of(manifest)):
        ident = identity(chunk_path(objects, name))
        if ident is None:
            return None
        found[name] = list(ident)
    return {"manifest": manifest.get("hmac"), "chunks": found}


def _mac(body: dict[str, Any]) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(sign.signing_key(), b"checked:" + data, hashlib.sha256).hexdigest()


def remembered(path: Path, objects: Path, manifest: dict[str, Any]) -> bool:
    """Whether this machine already checked every chunk of this snapshot, unchanged since."""
    try:
        note = json.loads((Path(path) / NOTE).read_bytes())
    except (OSError, ValueError):
        return False
    body = _identities(objects, manifest)
    if body is None or not isinstance(note, dict) or note.get("identity") != body:
        return False
    mac = note.get("mac")
    if not (isinstance(mac, str) and hmac.compare_digest(mac, _mac(body))):
        return False
    with _lock:
        for name, ident in body["chunks"].items():
            _seen[str(chunk_path(objects, name))] = tuple(ident)
    return True


def remember(path: Path, objects: Path, manifest: dict[str, Any]) -> None:
    """Note that every chunk was just checked (best effort: a read-only folder just checks again)."""
    body = _identities(objects, manifest)
    if body is None:
        return
    try:
        atomic_write_bytes(Path(path) / NOTE, json.dumps({"identity": body, "mac": _mac(body)}).encode(), mode=0o600)
    except OSError:
        pass
