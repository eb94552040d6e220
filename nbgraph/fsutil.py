"""Atomic writes: a reader (or a crash) never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def make_dirs(path: Path, mode: int = 0o755) -> Path:
    """Create ``path`` and its missing parents, each ``mode`` less the umask, like files here.

    ``Path.mkdir(parents=True)`` gives parents 0777 less the umask, so under ``umask 000`` anyone
    could replace a build's notebooks; every folder made here is at most ``mode`` (never writable
    by others), and private under a umask of 077.
    """
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made meanwhile by another process: its mode is its maker's
        os.chmod(folder, mode & ~_umask())
    return path


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write to a temporary name in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode & ~_umask())  # as open() would: a umask of 077 keeps outputs private
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", mode)


def find_partials(root: Path) -> list[Path]:
    """The temporaries (``.name.….partial``) that writes cut short by a killed nbgraph left under ``root``."""
    found: list[Path] = []
    if not Path(root).is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames) + filenames:
            if name.startswith(".") and ".partial" in name:
                found.append(Path(dirpath) / name)
                if name in dirnames:
                    dirnames.remove(name)
    return found


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when it is missing or unreadable (treated as never written)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
