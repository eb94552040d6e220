"""Where a live parent's snapshot lands for the caller: private folders, one per caller process.

The parent kernel writes there and the caller reads it, so it must be a path both see
(same user, same machine): ``$NBGRAPH_LIVE_DIR``, else ``$XDG_CACHE_HOME/nbgraph/live``,
else ``~/.cache/nbgraph/live``; folders 0700, files 0600.  The caller may map a
snapshot's arrays lazily, so the files outlive the ``inherit_from`` call: they are kept
until the caller inherits from the same kernel again, or until the caller process is
gone (the next ``inherit_from`` of anyone removes folders of callers that have exited).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..errors import SnapshotError
from ..procs import pid_alive

ENV = "NBGRAPH_LIVE_DIR"
_collected = False


def root() -> Path:
    override = os.environ.get(ENV)
    if override:
        base = Path(override).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nbgraph" / "live"
    _private_dir(base)
    return base


def caller_dir() -> Path:
    """This process's folder (named by pid and start time, so a reused pid is not confused)."""
    global _collected
    base = root()
    if not _collected:
        _collected = True
        _collect(base)
    folder = base / _process_tag(os.getpid())
    _private_dir(folder)
    return folder


def new_dest(kernel_id: str) -> Path:
    """A fresh snapshot path for a dump of ``kernel_id`` (the parent creates it)."""
    return caller_dir() / f"{kernel_id[:8]}-{time.time_ns()}"


def objects_dir() -> Path:
    """This caller's chunk store: dumps of an unchanged parent share its chunks (see ``snapshot.chunks``)."""
    from ..snapshot.chunks import OBJECTS

    return caller_dir() / OBJECTS


def forget_older(dest: Path) -> None:
    """Remove this caller's earlier snapshots of the same kernel, partial leftovers of it, and the
    chunks no snapshot left here references (a mapping this process still holds stays valid)."""
    from ..snapshot.chunks import OBJECTS
    from ..snapshot.gc import sweep

    prefix = dest.name.split("-", 1)[0]
    for old in dest.parent.iterdir():
        same_kernel = old.name.startswith(prefix + "-") or old.name.startswith(f".{prefix}-")
        if old != dest and same_kernel and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    kept = [p for p in dest.parent.iterdir() if p.is_dir() and p.name != OBJECTS and not p.name.startswith(".")]
    sweep(dest.parent / OBJECTS, kept)


def forget(dest: Path) -> None:
    """Remove a dump nothing was loaded from (refused, or its call failed)."""
    shutil.rmtree(dest, ignore_errors=True)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise SnapshotError(f"{path} belongs to another user; set {ENV} to a folder of your own")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)


def _process_tag(pid: int) -> str:
    return f"{pid}-{_start_time(pid) or 0}"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot ("0" without /proc), None if it is gone."""
    if not os.path.exists("/proc/self/stat"):
        return "0" if pid_alive(pid) else None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _collect(base: Path) -> None:
    """Remove folders of caller processes that have exited."""
    for folder in base.iterdir():
        pid, _, start = folder.name.partition("-")
        if pid.isdigit() and folder.is_dir() and _start_time(int(pid)) != start:
            shutil.rmtree(folder, ignore_errors=True)
