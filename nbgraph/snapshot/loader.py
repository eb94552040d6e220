"""Load a snapshot: verify, unpickle variable by variable, map the buffers.

Each variable's part of the stream is read by one unpickler (one memo, so identity
survives).  A variable that fails to load here is reported and stepped over; the
others still load.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any, MutableMapping

from .manifest import STATE, read_manifest


class gc_paused:
    """Pickling and unpickling millions of small objects run ~2x faster without the cyclic GC."""

    def __enter__(self) -> None:
        import gc

        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        import gc

        if self.was:
            gc.enable()


def one_line(e: BaseException) -> str:
    """An exception as the single line a report shows."""
    text = f"{type(e).__name__}: {e}".strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


class _Lost:
    """Stands in the memo for objects of a variable that failed to load."""


class _BufferFeed:
    """The unpickler's buffers, repositioned when a variable is stepped over."""

    def __init__(self, views: list[memoryview]) -> None:
        self.views = views
        self.next = 0

    def __iter__(self) -> "_BufferFeed":
        return self

    def __next__(self) -> memoryview:
        if self.next >= len(self.views):
            raise StopIteration
        self.next += 1
        return self.views[self.next - 1]


def load_snapshot(path: Path, into: MutableMapping[str, Any] | None = None, *,
                  verify_buffers: bool = True, failed: list[dict[str, str]] | None = None,
                  expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Verify, then unpickle a snapshot; its variables are returned and, if given, put in ``into``.

    Functions the parent notebook defined get ``into`` (else the returned dict) as their
    globals.  Large buffers are mapped copy-on-write, not read.  ``verify_buffers=False``
    skips hashing them, for callers that verified this snapshot already (see
    :mod:`.manifest`); with ``True`` a snapshot whose buffers were never sealed is
    refused.  A variable that fails to load (say, its module is missing here) is
    appended to ``failed`` as ``{name, type, reason}`` and the others still load.
    ``expect``: the binding of the record naming this snapshot (see :mod:`.manifest`).
    """
    return load_with_manifest(path, into, verify_buffers=verify_buffers, failed=failed, expect=expect)[1]


def load_with_manifest(path: Path, into: MutableMapping[str, Any] | None = None, *,
                       verify_buffers: bool = True, failed: list[dict[str, str]] | None = None,
                       expect: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`load_snapshot` that also returns the verified manifest (read once)."""
    from .manifest import check_buffers, check_stream
    from .pickler import loading_into

    path = Path(path)
    manifest = read_manifest(path, check_files=False, expect=expect)
    try:
        fd = os.open(path / STATE, os.O_RDONLY)
    except FileNotFoundError:
        fd = None
    data = None
    if fd is not None:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
    check_stream(path, manifest, data)
    if verify_buffers:
        check_buffers(path, manifest)
    views = map_buffers(path, manifest)

    state: dict[str, Any] = {}
    target = into if into is not None else state
    stream = io.BytesIO(data)
    feed = _BufferFeed(views)
    unpickler = pickle.Unpickler(stream, buffers=feed)
    entries = manifest["entries"]
    with loading_into(target), gc_paused():
        for i, entry in enumerate(entries):
            stream.seek(entry["start"])
            feed.next = entry["buffers"][0]
            try:
                _, value = unpickler.load()
            except Exception as e:
                if failed is not None:
                    failed.append({"name": entry["name"], "type": entry["type"],
                                   "reason": f"cannot be loaded here: {one_line(e)}"})
                if i + 1 < len(entries):
                    unpickler = _step_over(unpickler, stream, feed, data, entry, [i, manifest["token"]])
                continue
            state[entry["name"]] = value
            if into is not None:  # now: code run by later variables' loading (a __setstate__) reads its globals
                into[entry["name"]] = value
    return manifest, state


def map_buffers(path: Path, manifest: dict[str, Any]) -> list[memoryview]:
    """The snapshot's buffers, each mapped copy-on-write from its chunks (nothing read yet).

    Each chunk must be there with its size; its bytes were checked by whoever verified
    the snapshot (see :mod:`.manifest`), not here: that would read every page.
    """
    from .chunks import CHUNK, chunk_path, chunk_sizes
    from .manifest import chunk_refused, objects_of
    from .mapping import map_chunks

    objects = objects_of(path, manifest)
    views = []
    for nbytes, names in manifest["buffers"]:
        paths = [chunk_path(objects, name) for name in names]
        for name, chunk, size in zip(names, paths, chunk_sizes(nbytes)):
            try:
                actual = chunk.stat().st_size
            except OSError:
                raise chunk_refused(path, manifest, name, "is missing") from None
            if actual != size:
                raise chunk_refused(path, manifest, name, "was altered (size)")
        try:
            views.append(map_chunks(paths, names, nbytes, CHUNK))
        except OSError as e:
            raise chunk_refused(path, manifest, names[0], f"cannot be mapped ({e})") from None
    return views


def _step_over(unpickler: pickle.Unpickler, stream: io.BytesIO, feed: _BufferFeed, data: bytes,
               entry: dict[str, Any], marker: list) -> pickle.Unpickler:
    """A fresh unpickler whose memo numbers line up again after a variable failed to load.

    The failed variable's memo entries start at its marker's number and there is one per
    MEMOIZE in its part of the stream.  The failed unpickler may hold the rest of a frame,
    and a memo cannot be assigned (the C unpickler's setter drops a dict), so the fresh
    one first reads a small stream that memoizes, in order, the objects loaded before and
    a stand-in for each one lost.  Only runs on failure: it costs passes over the memo
    and over that variable's part of the stream.
    """
    import pickletools
    import struct

    old = unpickler.memo.copy()
    first = next(k for k, v in old.items() if type(v) is list and len(v) == 2 and type(v[0]) is int
                 and v[0] == marker[0] and v[1] == marker[1])
    count = sum(1 for op, _, _ in pickletools.genops(data[entry["start"]:entry["end"]]) if op.name == "MEMOIZE")
    lost = _Lost()
    objects = [old.get(k, lost) if k < first else lost for k in range(first + count)]
    refill = io.BytesIO()
    refill.write(b"\x80\x05")
    for k in range(len(objects)):  # BININT k, BINPERSID, MEMOIZE, POP
        refill.write(b"J" + struct.pack("<i", k) + b"Q\x94" + b"0")
    refill.write(b"N.")
    refill.seek(0)
    source = _Source(refill)
    fresh = pickle.Unpickler(source, buffers=feed)
    fresh.persistent_load = objects.__getitem__
    fresh.load()
    source.inner = stream
    return fresh


class _Source:
    """A stream whose underlying file can be switched (an unpickler binds its file once)."""

    def __init__(self, inner: io.BytesIO) -> None:
        self.inner = inner

    def read(self, n: int = -1) -> bytes:
        return self.inner.read(n)

    def readinto(self, buffer: Any) -> int:
        return self.inner.readinto(buffer)

    def readline(self) -> bytes:
        return self.inner.readline()
