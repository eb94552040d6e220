"""Out-of-band buffers (PEP 574): written raw and page-aligned, mapped copy-on-write on load.

Large contiguous buffers (numpy arrays, pandas blocks, anything exposing one) bypass
the pickle stream: they go to ``buffers.bin`` as they are, each starting on a page
boundary.  Each gets a sha256, either while it is written (the hashing overlapped with
the write) or, inside a run, afterwards by the runner (:func:`hash_buffers`, see
``manifest``): hashing 1 GiB costs more than writing it to the page cache, so the
kernel only writes.  On load the file is mapped once with ``ACCESS_COPY``: a child pays
only for the pages it touches, parallel children share the page cache, and a child
writing into an inherited array gets private copies of those pages, never changing
the snapshot.  Small buffers stay in the stream (not worth a page each).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import pickle
from pathlib import Path
from typing import Any

#: Buffers smaller than this are kept in the pickle stream.
MIN_OUT_OF_BAND = 64 * 1024
ALIGN = 4096
_CHUNK = 32 * 1024 * 1024


class BufferWriter:
    """The ``buffer_callback`` of the pickler: appends buffers to one file, hashes each.

    ``entries`` lists ``[offset, nbytes, sha256 or None]`` in the order the unpickler
    will ask for them.  ``mark``/``rollback`` undo the buffers of a variable that failed.
    """

    def __init__(self, path: Path, *, hash: bool = True) -> None:
        self.path = Path(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.hash = hash
        self.size = 0
        self.entries: list[list[Any]] = []
        #: id(exporting object) -> (object, entry index): a second pass names a buffer without reading it
        self.index_of: dict[int, tuple[Any, int]] = {}
        self._pool: Any = None

    def __call__(self, buffer: pickle.PickleBuffer) -> bool:
        try:
            view = buffer.raw()
        except BufferError:  # not contiguous: let the pickler copy it in-band
            return True
        if view.nbytes < MIN_OUT_OF_BAND:
            return True
        pad = -self.size % ALIGN
        if pad:
            self._write(memoryview(bytes(pad)))
            self.size += pad
        if self.hash:
            digest = self._write_hashed(view)
        else:
            self._write(view)
            digest = None
        self.index_of[id(view.obj)] = (view.obj, len(self.entries))
        self.entries.append([self.size, view.nbytes, digest])
        self.size += view.nbytes
        return False

    def _write_hashed(self, view: memoryview) -> str:
        h = hashlib.sha256()
        if view.nbytes < 2 * _CHUNK:
            self._write(view)
            h.update(view)
            return h.hexdigest()
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="nbgraph-write")
        pending = None
        for start in range(0, view.nbytes, _CHUNK):
            chunk = view[start:start + _CHUNK]
            if pending is not None:
                pending.result()
            pending = self._pool.submit(self._write, chunk)
            h.update(chunk)  # both release the GIL: hashing overlaps the write
        if pending is not None:
            pending.result()
        return h.hexdigest()

    def _write(self, view: memoryview) -> None:
        while view.nbytes:
            written = os.write(self.fd, view)
            view = view[written:]

    def mark(self) -> tuple[int, int]:
        return self.size, len(self.entries)

    def rollback(self, mark: tuple[int, int]) -> None:
        self.size, count = mark
        del self.entries[count:]
        os.ftruncate(self.fd, self.size)
        os.lseek(self.fd, self.size, os.SEEK_SET)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        os.close(self.fd)
        self.index_of.clear()


def map_buffers(path: Path, entries: list[list[Any]], size: int) -> list[memoryview]:
    """The buffers of a snapshot, as copy-on-write views of one mapping of ``path``.

    The file is opened once; its size must be the signed one (contents are checked
    by :func:`verify_buffers`, once per run, not here: that would read every page).
    """
    if not entries:
        return []
    with open(path, "rb") as fh:
        actual = os.fstat(fh.fileno()).st_size
        if actual != size:
            raise ValueError(f"{path.name} is {actual} bytes, the manifest says {size}")
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    whole = memoryview(mapped)
    return [whole[offset:offset + nbytes] for offset, nbytes, _ in entries]


def hash_buffers(path: Path, entries: list[list[Any]], size: int) -> tuple[list[str] | None, str | None]:
    """The sha256 of every buffer, or why the file cannot match its entries (one read of it)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return None, "is missing"
    with fh:
        if os.fstat(fh.fileno()).st_size != size:
            return None, "has the wrong size"
        if size == 0:
            return [], None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            whole = memoryview(mapped)
            try:
                digests, end = [], 0
                for offset, nbytes, _ in entries:
                    if any(whole[end:offset]):
                        return None, "was altered (padding)"
                    digests.append(hashlib.sha256(whole[offset:offset + nbytes]).hexdigest())
                    end = offset + nbytes
                if end != size:
                    return None, "has unexpected trailing bytes"
            finally:
                whole.release()
    return digests, None


def verify_buffers(path: Path, entries: list[list[Any]], size: int) -> str | None:
    """Why the buffers file does not match its manifest entries, or None when it does."""
    digests, problem = hash_buffers(path, entries, size)
    if problem:
        return problem
    if any(entry[2] is None for entry in entries):
        return "was never sealed (its run was interrupted)"
    if digests != [entry[2] for entry in entries]:
        return "was altered"
    return None
