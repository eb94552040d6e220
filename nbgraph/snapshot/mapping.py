"""Chunks mapped copy-on-write into one contiguous buffer, and which of their pages were written.

A buffer of many chunks must look like one piece of memory to numpy.  On Linux an
anonymous region of the buffer's size is reserved, then each chunk file is mapped over
its part of it (``MAP_PRIVATE | MAP_FIXED``): one mapping per chunk, no byte read until
touched, the page cache shared by every process mapping the same chunk, and a write
landing on a private copy of the page, never in the chunk file.

Every region this process mapped is remembered (:func:`region_holding`).  When the kernel
saves its state again, a buffer that lies on a region tells, through
``/proc/self/pagemap``, which of its chunks still hold only the file's pages: those are
referenced by name, neither read nor written.  A page this process wrote is present (or
swapped) and no longer a file page; an untouched or only-read one is absent or a file
page.  Where pagemap cannot be read, every chunk counts as written (the writer then
hashes it, and an unchanged one is still stored once).  Elsewhere than Linux chunks are
read into memory instead of mapped.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import os
import sys
import weakref
from pathlib import Path
from typing import Sequence

PAGE = mmap.PAGESIZE
_LINUX = sys.platform.startswith("linux")
_PROT_RW = mmap.PROT_READ | mmap.PROT_WRITE
_MAP_FIXED = 0x10
_FAILED = ctypes.c_void_p(-1).value

#: flag byte of a pagemap entry (its top 8 bits): 0x80 present, 0x40 swapped, 0x20 file page
_WRITTEN = bytes(1 if (b & 0xC0) and not (b & 0x20) else 0 for b in range(256))


class Region:
    """One mapped buffer: where it lies, the chunks it was mapped from, and unmapping when unused."""

    def __init__(self, base: int, nbytes: int, span: int, names: Sequence[str], chunk: int) -> None:
        self.base, self.nbytes, self.span, self.names, self.chunk = base, nbytes, span, tuple(names), chunk

    def __del__(self) -> None:
        i = bisect.bisect_left(_bases, self.base)
        if i < len(_bases) and _bases[i] == self.base:
            del _bases[i]
        if self.span and _libc is not None:
            _libc.munmap(ctypes.c_void_p(self.base), ctypes.c_size_t(self.span))


_regions: "weakref.WeakValueDictionary[int, Region]" = weakref.WeakValueDictionary()
#: the start of every live region, sorted: the one holding an address is found by bisection
_bases: list[int] = []


def _load_libc():
    if not _LINUX:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return libc


_libc = _load_libc()


def map_chunks(paths: Sequence[Path], names: Sequence[str], nbytes: int, chunk: int) -> memoryview:
    """A writable, copy-on-write view of ``nbytes`` made of the chunk files ``paths`` in order."""
    if _libc is None:
        data = bytearray()
        for path in paths:
            data += Path(path).read_bytes()
        return memoryview(data)[:nbytes]
    span = -(-nbytes // PAGE) * PAGE
    base = _libc.mmap(None, span, _PROT_RW, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if base in (None, _FAILED):
        raise OSError(ctypes.get_errno(), f"cannot reserve {nbytes} bytes of address space")
    region = Region(base, nbytes, span, names, chunk)
    for i, path in enumerate(paths):
        length = min(chunk, nbytes - i * chunk)
        fd = os.open(path, os.O_RDONLY)
        try:
            got = _libc.mmap(base + i * chunk, length, _PROT_RW, mmap.MAP_PRIVATE | _MAP_FIXED, fd, 0)
        finally:
            os.close(fd)
        if got in (None, _FAILED):
            raise OSError(ctypes.get_errno(), f"cannot map chunk {path.name}")
    view = (ctypes.c_ubyte * nbytes).from_address(base)
    view._nbgraph_region = region  # the buffer keeps its mapping alive; unmapped with its last user
    _regions[base] = region
    bisect.insort(_bases, base)
    return memoryview(view).cast("B")


def region_holding(address: int) -> Region | None:
    """The region this process mapped (still mapped) whose bytes include ``address``, if any."""
    i = bisect.bisect_right(_bases, address) - 1
    region = _regions.get(_bases[i]) if i >= 0 else None
    return region if region is not None and address < region.base + region.nbytes else None


class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


def address_of(view: memoryview) -> int:
    """Where a buffer's bytes start in this process's memory (read-only buffers too)."""
    buf = _PyBuffer()
    ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(view), ctypes.byref(buf), 0)
    try:
        return int(buf.buf or 0)
    finally:
        ctypes.pythonapi.PyBuffer_Release(ctypes.byref(buf))


class PageMap:
    """This process's ``/proc/self/pagemap``, opened once per save; None where it cannot be read."""

    def __init__(self) -> None:
        try:
            self.fd: int | None = os.open("/proc/self/pagemap", os.O_RDONLY) if _LINUX else None
        except OSError:
            self.fd = None

    def untouched(self, address: int, nbytes: int) -> bool:
        """Whether no page of ``[address, address + nbytes)`` was written by this process."""
        if self.fd is None:
            return False
        first, last = address // PAGE, (address + nbytes - 1) // PAGE
        try:
            entries = os.pread(self.fd, (last - first + 1) * 8, first * 8)
        except OSError:
            return False
        return 1 not in entries[7::8].translate(_WRITTEN)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
