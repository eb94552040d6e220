"""The files a snapshot's pickler writes into: counted and hashed as written, rolled back on failure."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any


class PickleStream:
    """The pickle stream's file: counts and hashes what the pickler writes; can roll back."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.size = 0
        self.hash = hashlib.sha256()

    def write(self, data: Any) -> int:
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        self.hash.update(view)
        n = view.nbytes
        while view.nbytes:
            view = view[os.write(self.fd, view):]
        self.size += n
        return n

    def mark(self) -> tuple[int, Any]:
        return self.size, self.hash.copy()

    def rollback(self, mark: tuple[int, Any]) -> None:
        self.size, self.hash = mark[0], mark[1].copy()
        os.ftruncate(self.fd, self.size)
        os.lseek(self.fd, self.size, os.SEEK_SET)

    def close(self) -> None:
        os.close(self.fd)


class HashSink:
    """Where a value is pickled only to hash it (its content digest)."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, data: Any) -> int:
        self.hash.update(data)
        return len(data)
