"""One ``nbgraph run`` per build folder at a time.

The lock is an advisory ``flock`` on ``<build>/.nbgraph.lock``: the kernel releases it
when the holder exits, however it exits (``kill -9`` included), so a stale lock can never
block the next run.  The file also says who holds it, for the refusal message.  For a
remote build location the lock is taken on this machine's mirror of it, so it guards
against a second run from the same machine.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from ..errors import BuildBusy, StoreError
from ..fsutil import make_dirs
from ..names import LOCK_FILE


class BuildLock:
    """Held for the whole run; ``with BuildLock(folder, location):``."""

    def __init__(self, folder: Path, location: str | None = None) -> None:
        self.path = Path(folder) / LOCK_FILE
        self.location = location or str(folder)
        self._fd: int | None = None

    def acquire(self) -> "BuildLock":
        import fcntl

        try:
            make_dirs(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # a read-only or impossible build folder: bad input, not a crash
            raise StoreError(f"{self.path.parent}: cannot write the build folder ({e.strerror or e}); "
                             f"set 'build_dir' to a folder you can write", location=self.location) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _holder(self.path)
            raise BuildBusy(f"{self.location} is in use by another nbgraph run ({holder}); "
                            "wait for it to finish or stop it, then run again", location=self.location) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                os.close(self._fd)  # closing releases the flock
                self._fd = None

    def __enter__(self) -> "BuildLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(folder: Path) -> bool:
    """Whether a run holds ``folder`` right now (used by ``nbgraph logs --follow``)."""
    import fcntl

    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def held_by(folder: Path) -> str | None:
    """Who holds ``folder``'s lock right now (``pid N on HOST, started ...``), or None when no run does."""
    return _holder(Path(folder) / LOCK_FILE) if is_locked(folder) else None


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["started"]))
        return f"pid {info['pid']} on {info['host']}, started {started}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"
