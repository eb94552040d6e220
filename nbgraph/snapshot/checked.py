"""Remembering, on this machine, that a snapshot's buffers passed a byte-by-byte check.

A full check reads all of ``buffers.bin`` (about 0.7 s per GiB).  Once one passes, a
small note in the snapshot folder (``.checked``) records the file as the filesystem
knows it: device, inode, size and change time (any write moves the change time, and
a user cannot set it back).  A later full check on this machine, in this run or the
next, whose note matches the file as it is now skips the read.  The note is signed
with the user's key and names the manifest's signature, so it can be neither forged
nor carried over to another snapshot; on another machine it simply does not match.

The note stands for the bytes of ``buffers.bin`` and nothing else: the signature, the
versions and the binding (which variant, key and run the snapshot is for) are checked
on the manifest every time, before the note is even read (``manifest.read_manifest``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_bytes
from . import sign

NOTE = ".checked"
BUFFERS = "buffers.bin"


def _identity(path: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    try:
        st = os.stat(path / BUFFERS)
    except OSError:
        return None
    return {"manifest": manifest.get("hmac"), "dev": st.st_dev, "ino": st.st_ino, "size": st.st_size,
            "ctime": st.st_ctime_ns}


def _mac(identity: dict[str, Any]) -> str:
    body = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(sign.signing_key(), b"checked:" + body, hashlib.sha256).hexdigest()


def remembered(path: Path, manifest: dict[str, Any]) -> bool:
    """Whether this machine already checked every byte of these buffers, unchanged since."""
    try:
        note = json.loads((Path(path) / NOTE).read_bytes())
    except (OSError, ValueError):
        return False
    identity = _identity(Path(path), manifest)
    if identity is None or not isinstance(note, dict) or note.get("identity") != identity:
        return False
    mac = note.get("mac")
    return isinstance(mac, str) and hmac.compare_digest(mac, _mac(identity))


def remember(path: Path, manifest: dict[str, Any]) -> None:
    """Note that every byte was just checked (best effort: a read-only folder just checks again)."""
    path = Path(path)
    identity = _identity(path, manifest)
    if identity is None:
        return
    try:
        atomic_write_bytes(path / NOTE, json.dumps({"identity": identity, "mac": _mac(identity)}).encode(), mode=0o600)
    except OSError:
        pass
