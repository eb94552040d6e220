"""Signing snapshots: unpickling runs code, so only load what this user's nbgraph signed.

A snapshot's ``manifest.json`` lists the sha256 of every file; the manifest itself is
signed with HMAC-SHA256 under a per-user key kept outside any build folder
(``$NBGRAPH_KEY_FILE``, else ``~/.config/nbgraph/snapshot.key``; mode 0600, created on
first use).  Verification compares in constant time before anything is unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from ..errors import SnapshotError

KEY_ENV = "NBGRAPH_KEY_FILE"


def key_path() -> Path:
    override = os.environ.get(KEY_ENV)
    if override:
        return Path(override).expanduser().absolute()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "nbgraph" / "snapshot.key"


def pin_key_path() -> None:
    """Make a relative ``$NBGRAPH_KEY_FILE`` absolute for the processes started from here.

    Kernels and zygotes run in their notebook's folder: a relative path would point each
    to another (new) key, and every snapshot would then be refused as altered.
    """
    if os.environ.get(KEY_ENV):
        os.environ[KEY_ENV] = str(key_path())


def signing_key() -> bytes:
    """This user's key, created (0600) on first use; concurrent first uses agree on one key."""
    path = key_path()
    key = _read_key(path)
    if key is not None:
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # create-if-absent, atomically: whoever links first wins
    except FileExistsError:
        if _read_key(path) is None:  # an unusable key file: replace it
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    key = _read_key(path)
    if key is None:
        raise SnapshotError(f"{path}: cannot create the snapshot signing key; check that folder's permissions")
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(key) < 32:
        return None
    _keep_private(path)
    return key


def _keep_private(path: Path) -> None:
    """Whoever can read the key can sign a snapshot that runs code here: a key copied in with
    looser permissions (0644) is made 0600 again."""
    try:
        st = path.stat()
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            os.chmod(path, 0o600)
    except OSError:
        pass


def _canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "hmac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(manifest: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
    key = key if key is not None else signing_key()
    return {**manifest, "hmac": hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()}


def verify_manifest(manifest: dict[str, Any], where: Path, key: bytes | None = None) -> None:
    """Raise :class:`SnapshotError` unless the manifest carries this user's valid signature."""
    key = key if key is not None else signing_key()
    given = manifest.get("hmac")
    expected = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    if not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise SnapshotError(
            f"{where}: snapshot signature does not match (not written by your nbgraph, or altered); "
            "re-run its notebook with --force",
            path=str(where), problem="snapshot signature does not match (not written by your nbgraph, or altered)",
            versions=False,
        )


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
