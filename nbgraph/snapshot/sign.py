"""Signing snapshots: unpickling runs code, so only load what this user's nbgraph signed.

A snapshot's ``manifest.json`` lists the sha256 of every file; the manifest itself is
signed with HMAC-SHA256 under a per-user key kept outside any build folder
(``$NBGRAPH_KEY_FILE``, else ``~/.config/nbgraph/snapshot.key``).  Verification compares
in constant time before anything is unpickled.

Whoever can read or replace the key can sign a snapshot that runs code here, so the key
file is opened without following a symbolic link and must be a regular file of at least
32 bytes that only its owner can read or write.  nbgraph creates it on first use (0600,
in folders it creates 0700 whatever the umask).  A file named by ``$NBGRAPH_KEY_FILE`` (or
by :func:`using_key_file`) is the user's: it is never modified, and a bad one is refused
with one line saying what to do.  Only nbgraph's own default key, found readable by others,
is made 0600 again.

A run chooses its key with :func:`using_key_file`, a context variable rather than
``os.environ``: two runs in one process (threads, a notebook server) each sign with their
own key, and the caller's environment is never rewritten.  Kernels get the run's key path in
their own environment (``Job.env``).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import secrets
import stat
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

from ..errors import NbgraphError, SnapshotError

KEY_ENV = "NBGRAPH_KEY_FILE"
KEY_BYTES = 32
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # POSIX; elsewhere a link is caught by islink only
_OPEN_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
#: the key file chosen for this context (a run's thread, a job's), see :func:`using_key_file`
_chosen: ContextVar[Path | None] = ContextVar("nbgraph_key_file", default=None)


def key_path() -> Path:
    return named_key_file() or _default_key_path()


def named_key_file() -> Path | None:
    """The key file the user named for this context, absolute: :func:`using_key_file`'s, else
    ``$NBGRAPH_KEY_FILE``'s; None for nbgraph's default key.

    Absolute because kernels and zygotes run in their notebook's folder: a relative path would
    point each to another (new) key, and every snapshot would then be refused as altered.
    """
    chosen = _chosen.get()
    if chosen is not None:
        return chosen
    override = os.environ.get(KEY_ENV)
    return Path(override).expanduser().absolute() if override else None


def _default_key_path() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "nbgraph" / "snapshot.key"


@contextmanager
def using_key_file(path: str | Path | None) -> Iterator[Path | None]:
    """Sign and verify with the key in ``path`` within this context (this thread, or the task
    it runs), leaving ``os.environ`` alone; None keeps the key already in use.  Yields the
    named key file in force (None: the default key)."""
    if path is None:
        yield named_key_file()
        return
    token = _chosen.set(Path(path).expanduser().absolute())
    try:
        yield _chosen.get()
    finally:
        _chosen.reset(token)


def signing_key() -> bytes:
    """This user's key, created on first use; concurrent first uses agree on one key.

    Raises :class:`NbgraphError` (exit 2, not a :class:`SnapshotError`: no snapshot is at
    fault, and nothing can be signed or checked until it is fixed) for an unusable key file.
    """
    path = key_path()
    key = _read_key(path)
    if key is None:
        _create_key(path)
        key = _read_key(path)
    if key is None:
        raise _bad_key(path, "vanished while it was being created", "check what else writes there")
    return key


def _read_key(path: Path) -> bytes | None:
    """The key in ``path``, None if there is none; raises for a file that cannot be one."""
    user = _named_by_user()
    if os.path.islink(path):  # O_NOFOLLOW below closes the race (where there is one)
        raise _linked(path)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _linked(path) from None
        raise _bad_key(path, f"cannot be read ({e.strerror})", "check its and its folder's permissions") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise _bad_key(path, f"is {what}", f"point {KEY_ENV} at a file (nbgraph creates it if it does not exist)"
                           if user else "move it away (nbgraph then creates the key there)")
        if os.name == "posix" and st.st_mode & 0o077:
            _keep_private(fd, path, st)
        key = _read_all(fd)
    finally:
        os.close(fd)
    if len(key) < KEY_BYTES:
        raise _bad_key(path, f"holds {len(key)} bytes, a signing key has at least {KEY_BYTES}",
                       f"point {KEY_ENV} at your key, or at a file that does not exist yet for nbgraph to create"
                       if user else "delete it (nbgraph then creates a new key there)")
    return key


def _linked(path: Path) -> NbgraphError:
    target = os.path.realpath(path)
    return _bad_key(path, f"is a symbolic link (to {target})", f"set {KEY_ENV}={target}" if _named_by_user()
                    else "replace the link with the key file itself")


def _keep_private(fd: int, path: Path, st: os.stat_result) -> None:
    """A key others can read or write is refused; nbgraph's own default key is made 0600 again
    (copied in as 0644, say).  A file the user named is never changed."""
    mode = f"mode {stat.S_IMODE(st.st_mode):04o}"
    if _named_by_user() or st.st_uid != os.getuid():
        raise _bad_key(path, f"can be read or written by others ({mode})", f"run: chmod 600 {path}")
    os.fchmod(fd, 0o600)


def _read_all(fd: int) -> bytes:
    chunks = []
    while block := os.read(fd, 1 << 16):
        chunks.append(block)
    return b"".join(chunks)


def _create_key(path: Path) -> None:
    """Write a new key under a temporary name and link it into place: whoever links first wins,
    and nobody ever reads a half-written key."""
    try:
        _make_private_folders(path.parent)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except OSError as e:
        raise _bad_key(path, f"cannot be created ({e.strerror})", f"point {KEY_ENV} at a file in a folder you can write"
                       if _named_by_user() else "check that folder's permissions") from None
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, secrets.token_bytes(KEY_BYTES))
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made one first (or something else is there: read, and refused)
    finally:
        tmp.unlink(missing_ok=True)


def _make_private_folders(folder: Path) -> None:
    """Create ``folder`` and any missing parent, each 0700 whatever the umask (folders that
    exist are left as they are)."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        try:
            os.mkdir(made, 0o700)
        except FileExistsError:
            continue  # made by a concurrent first use: not ours to change
        os.chmod(made, 0o700)


def _named_by_user() -> bool:
    return named_key_file() is not None


def _bad_key(path: Path, problem: str, remedy: str) -> NbgraphError:
    return NbgraphError(f"snapshot signing key {path}: {problem}; {remedy}", key_file=str(path), problem=problem)


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
