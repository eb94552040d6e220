"""Runs inside an ipykernel kernel: output written to file descriptors 1 and 2, once.

ipykernel (6+) catches what a subprocess or a C library writes straight to fds 1/2 and
forwards it to the notebook, and also copies it to the kernel process's own stdout/stderr.
nbgraph sends both the notebook's stream output and that process output to the variant's
log, so each such write would be logged twice.  This stream forwards it to the notebook
only: the log gets it once, through the notebook's output, and the executed notebook shows
it as JupyterLab does.  The kernel's own messages still reach its process output.

Loaded by name (``IPKernelApp.outstream_class``); in an ipykernel without the pipe watcher
it replaces, it is ipykernel's own stream.
"""

from __future__ import annotations

import os
import sys

from ipykernel.iostream import OutStream

class NotebookOnlyOutStream(OutStream):
    """ipykernel's stream, minus the copy of captured fd output to the process's own fds."""

    def _watch_pipe_fd(self) -> None:
        fd = getattr(self, "_fid", None)
        if fd is None:
            return
        try:
            data = os.read(fd, 1 << 16)
            while data and self._should_watch:
                self.write(data.decode(errors="replace"))
                data = os.read(fd, 1 << 16)
        except Exception:
            self._exc = sys.exc_info()
