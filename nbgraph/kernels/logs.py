"""Live output of a variant: a log file beside its executed notebook, and optional listeners.

While a variant runs, its live log (``.partial.<notebook>.log`` beside its executed
notebook) receives, as they happen, the cells' stdout/stderr, error tracebacks, and the
kernel process's own output (e.g. ipykernel's start-up warnings, which must not land on the
user's terminal).  When the run ends it replaces ``<notebook>.log``, as the executed notebook
replaces the previous one; an interrupted run leaves the previous log, like the previous
notebook and record, as it was.  Listeners (``nbgraph run --log-output``) receive the same
text, the kernel process's own output excepted, tagged with the variant.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import threading
import time
from pathlib import Path
from typing import IO, Callable, Iterator

from ..fsutil import make_dirs

#: ``sink(variant, stream, text)``; ``stream`` is "stdout" or "stderr"
Sink = Callable[[str, str, str], None]

_listeners: list[Sink] = []
_listeners_lock = threading.Lock()
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def log_path(output: str | Path) -> Path:
    """Where a variant's log lives: beside its executed notebook, same stem."""
    out = Path(output)
    return out.with_name(f"{out.stem}.log")


def live_log_path(log: str | Path) -> Path:
    """The log a running variant writes, renamed to ``log`` when it ends (a leftover of a killed
    run is removed with the other partial files)."""
    log = Path(log)
    return log.with_name(f".partial.{log.name}")


def add_listener(sink: Sink) -> None:
    with _listeners_lock:
        _listeners.append(sink)


def remove_listener(sink: Sink) -> None:
    with _listeners_lock:
        if sink in _listeners:
            _listeners.remove(sink)


def broadcast(variant: str, stream: str, text: str) -> None:
    """Hand output to every listener of this process (a failing listener never fails a run)."""
    with _listeners_lock:
        sinks = list(_listeners)
    for sink in sinks:
        try:
            sink(variant, stream, text)
        except Exception:
            pass


class VariantLog:
    """The open live log of one running variant (``path`` is the log it becomes, see :meth:`commit`).

    ``kernel_stream`` is given to the kernel process as its stdout/stderr; cell output
    is appended through :meth:`write`.  Both use O_APPEND, so their writes interleave
    without overwriting each other.  ``append``: a retry goes on with the live log of the
    attempts before it.  ``adopt``: the log file a kernel started ahead already writes to.
    """

    def __init__(self, path: str | Path, variant: str, sink: Sink | None = None, append: bool = False,
                 adopt: Path | None = None) -> None:
        self.path = Path(path)
        self.live = live_log_path(self.path)
        self.variant = variant
        self.sink = sink if sink is not None else broadcast
        make_dirs(self.path.parent)
        if adopt is not None:  # the log a kernel started ahead of this run writes to (kernels.fork.warm)
            os.replace(adopt, self.live)
        elif not append:  # a new run of the variant starts a new log; 0644 less the umask, as nbgraph's other files
            os.close(os.open(self.live, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        self._fh: IO[str] = open(self.live, "a", encoding="utf-8", buffering=1)
        self.kernel_stream: IO[bytes] = open(self.live, "ab", buffering=0)
        self._lock = threading.Lock()

    def write(self, text: str, stream: str = "stdout") -> None:
        if not text:
            return
        text = _ANSI.sub("", text)
        with self._lock:
            if not self._fh.closed:
                self._fh.write(text)
                self._fh.flush()
        self.sink(self.variant, stream, text)

    def note(self, line: str) -> None:
        """A line from nbgraph itself (a fault, a retry), marked as such."""
        self.write(f"nbgraph: {line}\n", "stderr")

    def close(self) -> None:
        with self._lock:
            self._fh.close()
            self.kernel_stream.close()

    def commit(self) -> None:
        """The run ended (its outcome will be recorded): its log becomes the variant's log."""
        self.close()
        os.replace(self.live, self.path)

    def discard(self) -> None:
        """The run was cut short (nothing will be recorded): the previous log stays the log."""
        self.close()
        self.live.unlink(missing_ok=True)

    def __enter__(self) -> "VariantLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def follow(path: Path, active: Callable[[], bool], poll: float = 0.25) -> Iterator[str]:
    """Yield a variant's log as it grows, until ``active()`` is false and nothing more arrives.

    A running variant writes its live log, renamed to ``path`` when it ends: once a live log
    appears it is followed (from its start, after the previous log); renamed, it goes on
    from where it was; discarded (the run was interrupted), nothing of the previous log follows.
    """
    live = live_log_path(path)
    reader = _Reader(path)
    while True:
        if reader.path != live and live.exists():
            reader = _Reader(live)
        elif reader.path == live and not live.exists() and reader.continues_in(path):
            reader.path = path
        chunk = reader.read()
        if chunk:
            yield chunk
            continue
        if not active():
            return
        time.sleep(poll)


class _Reader:
    """Reads a growing file from where it left off, knowing (by digest) what it has read.

    The file stays open between reads, so what was written before it was removed (a live log
    discarded when its run is interrupted) is still read to its end.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None
        self._restart()

    def _restart(self) -> None:
        self.pos = 0
        self.seen = hashlib.sha256()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def _open(self) -> IO[bytes] | None:
        """The open file, reopened when another file now has its name (a new run's log)."""
        try:
            current = os.stat(self.path)
        except OSError:
            return self._fh  # gone: drain what is left of the open one
        if self._fh is not None:
            held = os.fstat(self._fh.fileno())
            if (held.st_ino, held.st_dev) == (current.st_ino, current.st_dev) and current.st_size >= self.pos:
                return self._fh
            self._fh.close()
        try:
            self._fh = open(self.path, "rb")
        except OSError:
            self._fh = None
            return None
        self._restart()
        return self._fh

    def read(self) -> str:
        fh = self._open()
        if fh is None:
            return ""
        fh.seek(self.pos)
        data = fh.read()
        self.pos += len(data)
        self.seen.update(data)
        return self.decoder.decode(data)

    def continues_in(self, other: Path) -> bool:
        """Whether ``other`` starts with what was read here (this file was renamed to it)."""
        try:
            with open(other, "rb") as fh:
                return hashlib.sha256(fh.read(self.pos)).digest() == self.seen.digest()
        except OSError:
            return False
