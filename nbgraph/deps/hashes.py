"""Content hashes of the files variants used, recomputed only when the filesystem says a file changed.

Staleness is decided on content: a ``touch``, a checkout that rewrites the same bytes or a
copy with a new mtime re-runs nothing.  Reading every used file on every ``status`` would
cost what the data weighs, so a note remembers, per file, its sha256 together with the
file as the filesystem knows it (device, inode, size, modification and change time); a
file whose identity still matches is not read again.  The change time moves on any write
and cannot be set back, so a content change that keeps size and mtime is still seen.  A
file changed within the clock's granularity of being hashed could keep its identity: one
that changed less than :data:`SETTLE` seconds before it was hashed is not remembered.

The note is per machine and per user (in nbgraph's cache folder; inode numbers mean nothing
elsewhere) and signed with the user's key, as a snapshot's ``.checked`` note is: a forged
note could make a changed file look unchanged.  One that does not verify is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

#: seconds: a file changed this recently when hashed is hashed again next time
SETTLE = 2.0


class FileHashes:
    """sha256 of files by path, backed by the signed note at ``note``."""

    def __init__(self, note: Path, key: bytes) -> None:
        self.note = note
        self._key = key
        self._lock = threading.Lock()
        self._entries: dict[str, list[Any]] = self._read()
        self._dirty = False

    def digest(self, path: str | Path) -> str | None:
        """The sha256 of the file's content; None if it is missing or not a regular file."""
        path = os.path.abspath(path)
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        identity = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        known = self._entries.get(path)
        if known is not None and known[:-1] == identity:
            return known[-1]
        try:
            with open(path, "rb") as f:
                sha = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError:
            return None
        if time.time_ns() - st.st_ctime_ns > SETTLE * 1e9:
            with self._lock:
                self._entries[path] = [*identity, sha]
                self._dirty = True
        return sha

    def save(self) -> None:
        """Write the note if anything was hashed, merged with what another process noted since
        (best effort: a note that cannot be written only means hashing again)."""
        with self._lock:
            if not self._dirty:
                return
            entries = {**self._read(), **self._entries}
            self._entries, self._dirty = entries, False
        body = json.dumps(entries, sort_keys=True, separators=(",", ":"))
        from ..fsutil import atomic_write_text, make_dirs

        try:
            make_dirs(self.note.parent, mode=0o700)
            atomic_write_text(self.note, json.dumps({"entries": body, "mac": self._mac(body)}), mode=0o600)
        except OSError:
            pass

    def _read(self) -> dict[str, list[Any]]:
        try:
            note = json.loads(self.note.read_bytes())
            body, mac = note["entries"], note["mac"]
            if not hmac.compare_digest(mac, self._mac(body)):
                return {}
            entries = json.loads(body)
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        return entries if isinstance(entries, dict) else {}

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, b"file-hashes:" + body.encode(), hashlib.sha256).hexdigest()


_machine: dict[Path, FileHashes] = {}
_machine_lock = threading.Lock()


def machine_hashes() -> FileHashes:
    """This process's view of this machine's note for the current key (one note per key)."""
    from ..snapshot.sign import signing_key
    from ..build.store import cache_root

    key = signing_key()
    tag = hmac.new(key, b"file-hashes-note", hashlib.sha256).hexdigest()[:12]
    note = cache_root() / f"file-hashes-{tag}.json"
    with _machine_lock:
        if note not in _machine:
            _machine[note] = FileHashes(note, key)
        return _machine[note]


def save_machine_hashes() -> None:
    """Write the notes this process used (none used: nothing to do, not even reading the key)."""
    with _machine_lock:
        used = list(_machine.values())
    for hashes in used:
        hashes.save()
