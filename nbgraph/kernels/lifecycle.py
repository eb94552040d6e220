"""The kernels nbgraph starts: who owns them, and how they are all stopped at once.

Every kernel a run starts is registered here under the run's id, in the process that
started it (the nbgraph process, or a Dask worker).  ``kill_run(run_id)`` kills them all:
the scheduler calls it on Ctrl-C/SIGTERM, the Dask executor runs it on every worker.
Kernels are killed by process group (jupyter_client starts each in its own session),
so whatever a cell spawned dies with it.  Kernels nbgraph did not start are never
touched: the registry only ever holds managers created by :func:`new_kernel_manager`.

Once a run is being killed, registering a new kernel for it kills that kernel at once,
so a job that was starting a kernel while Ctrl-C arrived cannot leave one behind.  Their
connection files are written where a later run removes them (see ``connection``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from ..procs import pid_alive
from .connection import ipc_prefix, new_connection_file

_lock = threading.Lock()
_kernels: dict[str, set[Any]] = {}
_killed_runs: set[str] = set()


class RunInterrupted(Exception):
    """The run this kernel belongs to is being stopped; do not start more work."""


def new_kernel_manager(kernel_name: str | None, fork_from: str | None = None) -> Any:
    """A kernel manager nbgraph owns (it starts and shuts down the kernel itself).

    This is the plug point for other ways of starting kernels: any jupyter_client
    ``AsyncKernelManager`` whose provisioner exposes ``pid``/``pgid`` works.  With
    ``fork_from`` (a zygote's socket, see ``kernels.fork``) the kernel is forked from it.
    """
    from jupyter_client.manager import AsyncKernelManager

    cls: Any = AsyncKernelManager
    kw: dict[str, Any] = {"kernel_name": kernel_name} if kernel_name else {}
    connection_file = new_connection_file()  # where the next run removes it, should nbgraph be killed
    if connection_file:
        kw["connection_file"] = connection_file
        prefix = ipc_prefix(connection_file)
        if prefix:
            kw["transport"], kw["ip"] = "ipc", prefix
    if fork_from:
        from .fork.provisioner import ForkKernelManager

        cls, kw["zygote"] = ForkKernelManager, fork_from
    return cls(**kw)


def register(run_id: str, km: Any) -> None:
    """Record a started kernel; if its run is already being killed, kill it now."""
    with _lock:
        if run_id in _killed_runs:
            killed = True
        else:
            _kernels.setdefault(run_id, set()).add(km)
            killed = False
    if killed:
        kill(km)
        raise RunInterrupted(f"run {run_id} was interrupted")


def unregister(run_id: str, km: Any) -> None:
    with _lock:
        _kernels.get(run_id, set()).discard(km)


def check_run(run_id: str) -> None:
    """Raise :class:`RunInterrupted` if the run is being killed (call before starting work)."""
    with _lock:
        if run_id in _killed_runs:
            raise RunInterrupted(f"run {run_id} was interrupted")


def kernel_pid(km: Any) -> int | None:
    provisioner = getattr(km, "provisioner", None)
    return getattr(provisioner, "pid", None)


def kill(km: Any) -> None:
    """SIGKILL the kernel's process group; safe from any thread, safe if already dead."""
    provisioner = getattr(km, "provisioner", None)
    pgid = getattr(provisioner, "pgid", None)
    pid = getattr(provisioner, "pid", None)
    try:
        if pgid and hasattr(os, "killpg") and pgid != os.getpgid(0):
            os.killpg(pgid, signal.SIGKILL)
        elif pid:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_run(run_id: str, wait: float = 3.0) -> int:
    """Kill every kernel of ``run_id`` in this process and refuse new ones; returns how many.

    Returns once the kernels are gone (or after ``wait`` seconds), so a caller that goes on
    to exit leaves no kernel behind.
    """
    with _lock:
        _killed_runs.add(run_id)
        kms = list(_kernels.pop(run_id, ()))
    for km in kms:
        kill(km)
    pids = [p for p in (kernel_pid(km) for km in kms) if p]
    deadline = time.monotonic() + wait
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if pid_alive(p)]
        if pids:
            time.sleep(0.02)
    return len(kms)
