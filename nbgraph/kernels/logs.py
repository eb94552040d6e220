"""Live output of a variant: a log file beside its executed notebook, and optional listeners.

While a variant runs, ``<notebook>.log`` beside its executed notebook receives, as they
happen, the cells' stdout/stderr, error tracebacks, and the kernel process's own output
(e.g. ipykernel's start-up warnings, which must not land on the user's terminal).
Listeners (``nbgraph run --log-output``) receive the same text tagged with the variant.
"""

from __future__ import annotations

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
    """The open log file of one running variant.

    ``kernel_stream`` is given to the kernel process as its stdout/stderr; cell output
    is appended through :meth:`write`.  Both use O_APPEND, so their writes interleave
    without overwriting each other.
    """

    def __init__(self, path: str | Path, variant: str, sink: Sink | None = None, append: bool = False) -> None:
        self.path = Path(path)
        self.variant = variant
        self.sink = sink if sink is not None else broadcast
        make_dirs(self.path.parent)
        # a new run of the variant starts a new log; 0644 less the umask, as nbgraph's other files
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | (0 if append else os.O_TRUNC), 0o644))
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8", buffering=1)
        self.kernel_stream: IO[bytes] = open(self.path, "ab", buffering=0)
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

    def __enter__(self) -> "VariantLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def follow(path: Path, active: Callable[[], bool], poll: float = 0.25) -> Iterator[str]:
    """Yield a log's text as it grows, until ``active()`` is false and nothing more arrives."""
    pos = 0
    while True:
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        if size < pos:  # a new run truncated it
            pos = 0
        if size > pos:
            with open(path, encoding="utf-8", errors="replace") as fh:
                fh.seek(pos)
                chunk = fh.read()
                pos = fh.tell()
            yield chunk
            continue
        if not active():
            return
        time.sleep(poll)
