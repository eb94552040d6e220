"""Where the kernels nbgraph starts keep their connection files, and who removes them.

A connection file holds a kernel's ports and its message-signing key: whoever reads it
can run code in that kernel.  jupyter_client writes it to the temporary folder
(``tmpXXXX.json``, 0600) and removes it when the kernel is shut down, which nobody does
once nbgraph itself is killed (``kill -9``): the kernels exit on their own, their files
stay.  So nbgraph's kernels write theirs to a folder of its own, ``$TMPDIR/nbgraph-<uid>``
(0700, this user's), each named after the process that wrote it and its machine
(``kernel-<pid>-<random>-<host>.json``), and the first kernel a process starts removes
the files whose writer is gone.  Never a file of a live process, of another machine
(a shared temporary folder), or one that nbgraph did not name.

On POSIX the kernels talk over IPC (Unix sockets beside the connection file,
``<name>.ipc-<port>``, in the same 0700 folder) rather than TCP on 127.0.0.1: no other
local user can reach them, and ipykernel has no reason to warn, at the top of every
variant's log, that it runs over TCP without encryption.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import sys
import tempfile
import threading
from pathlib import Path

from ..procs import pid_alive

_NAME = re.compile(r"^kernel-(?P<pid>\d+)-[0-9a-f]{8}-(?P<host>.+?)(\.json|\.ipc-\d+)$")
#: a Unix socket's path must fit in ``sockaddr_un`` with its NUL (108 bytes on Linux, 104 elsewhere)
MAX_SOCKET_PATH = 107 if sys.platform.startswith("linux") else 103
_lock = threading.Lock()
_swept = False


def folder() -> Path | None:
    """This user's private folder for connection files; None if the name is taken by something
    that is not (a link, another user's folder): jupyter_client's default is used then."""
    path = Path(tempfile.gettempdir()) / f"nbgraph-{_uid()}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            return None
        if st.st_mode & 0o077:
            os.chmod(path, 0o700)  # nbgraph's own folder, made under a loose umask
    except OSError:
        return None
    return path


def new_connection_file() -> str | None:
    """A fresh connection file path for a kernel this process starts (stale files removed first)."""
    global _swept
    where = folder()
    if where is None:
        return None
    with _lock:
        if not _swept:
            _swept = True
            remove_stale(where)
    return str(where / f"kernel-{os.getpid()}-{secrets.token_hex(4)}-{_host()}.json")


def ipc_prefix(connection_file: str) -> str | None:
    """The IPC socket prefix beside a connection file (``<name>.ipc``), or None where IPC cannot be
    used (not POSIX, or a path too long for a Unix socket): the kernel then uses TCP."""
    prefix = connection_file.removesuffix(".json") + ".ipc"
    if os.name != "posix" or len(os.fsencode(prefix)) + 6 > MAX_SOCKET_PATH:  # "-<port>"
        return None
    return prefix


def remove_stale(where: Path) -> list[Path]:
    """Remove the connection files in ``where`` whose writer, on this machine, is no longer running."""
    removed: list[Path] = []
    if os.name != "posix":
        return removed
    host = _host()
    try:
        entries = list(os.scandir(where))
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.match(entry.name)
        if not match or match["host"] != host or entry.is_dir(follow_symlinks=False) or entry.is_symlink():
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or pid_alive(pid):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def _uid() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "localhost"
