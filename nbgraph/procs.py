"""Other processes' lifetimes: whether one still runs, and dying with one's parent.

Standard library only: the zygote imports it before anything else.  POSIX only (on
Windows ``os.kill(pid, 0)`` would end the process).
"""

from __future__ import annotations

import os
import signal
from typing import Any

PR_SET_PDEATHSIG = 1


def pid_alive(pid: Any, *, mine: bool = False) -> bool:
    """True while ``pid`` exists and is not a zombie (a killed child not yet reaped is gone).

    Another user's process exists too (``os.kill`` may not signal it: ``PermissionError``);
    ``mine=True`` asks whether it is a process of this user's, such as a Jupyter server whose
    runtime file this user wrote (another user's process there is a reused pid).
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            if fh.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                return False
        if not mine:
            return True
    except FileNotFoundError:
        if os.path.exists("/proc/self/stat"):  # Linux: no such process
            return False
    except OSError:
        pass
    try:  # no /proc (macOS), or whose process it is
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, as another user's process
        return not mine
    return True


def die_with(parent: int, signum: int = signal.SIGKILL) -> None:
    """Get ``signum`` when ``parent`` (more exactly: the thread that forked us) dies (Linux)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def exit_now(code: int, *, join_threads: bool = True) -> None:
    """End this process like the interpreter would (other threads joined, ``atexit`` handlers run,
    standard streams flushed) but without tearing its heap down object by object: 0.1-0.3 s
    after a run that imported papermill, Jupyter and networkx, and in a forked kernel a write
    to every page it shares with its zygote.  ``join_threads=False``: a forked kernel's own
    threads are stopped already, or are daemons."""
    import atexit
    import sys
    import threading

    if join_threads and hasattr(threading, "_shutdown"):
        try:
            threading._shutdown()  # what finalisation does first (executors' workers stopped and joined)
        except BaseException:
            pass
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # a closed pipe (`nbgraph status | head`): nothing more to say
            pass
    os._exit(code)
