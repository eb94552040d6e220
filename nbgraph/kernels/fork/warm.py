"""Kernels forked ahead of their job: the next child of a group finds its kernel ready.

A forked kernel still spends about 0.1 s initialising IPython before it can take a request.
While a group's child runs its cells, the fork manager asks for the next child's kernel
(:meth:`WarmKernels.ahead`): it is forked and initialised on another core, and the next job of
the group with the same working folder and environment takes it (:func:`claim`) instead of
forking one itself.  Its stdout/stderr go to a temporary log in the build folder that the
job's log adopts (``VariantLog(adopt=...)``), so the log reads as if the job had started it.

At most one kernel per zygote waits at a time.  Whatever nobody takes (the run was cut short,
or the group's last children failed) is killed with the manager.  Retries never take one: their
log goes on from the earlier attempts.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import lifecycle
from ..job import Job


@dataclass
class WarmKernel:
    """A started kernel manager and the log its kernel writes to until a job adopts it."""

    km: Any
    log: Path
    run_id: str

    def alive(self) -> bool:
        provisioner = getattr(self.km, "provisioner", None)
        return provisioner is not None and provisioner.has_process and not provisioner._terminated()


def _key(job: Job) -> tuple:
    """A kernel fits a job that forks from the same zygote, in the same folder and environment."""
    return job.fork_from, job.cwd, job.run_id, tuple(sorted(job.env.items()))


_lock = threading.Lock()
_ready: dict[tuple, list[WarmKernel]] = {}


def claim(job: Job) -> WarmKernel | None:
    """The kernel forked ahead for ``job``, if one is ready and alive (the caller now owns it)."""
    if not job.fork_from or job.attempt > 1:
        return None
    while True:
        with _lock:
            waiting = _ready.get(_key(job))
            warm = waiting.pop(0) if waiting else None
        if warm is None or warm.alive():
            return warm
        discard(warm)


def discard(warm: WarmKernel) -> None:
    """Kill a kernel started ahead that no job will use, and remove its log."""
    from jupyter_core.utils import run_sync

    lifecycle.kill(warm.km)
    lifecycle.unregister(warm.run_id, warm.km)
    try:
        run_sync(warm.km.cleanup_resources)()
    except Exception:
        pass
    warm.log.unlink(missing_ok=True)


class WarmKernels:
    """The kernels one fork manager asks for ahead of their jobs (one thread starts them)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbgraph-warm")
        self._pending: dict[tuple, list[Future]] = {}
        self._keys: set[tuple] = set()
        self._closed = False

    def ahead(self, job: Job, left: int) -> None:
        """``job`` (forked, first attempt) is about to run, and ``left`` more jobs like it will
        follow: make sure a kernel is being forked for the next one (and, if one is ready,
        that ``job`` takes it)."""
        if not job.fork_from or job.attempt > 1 or left <= 0:
            return
        key = _key(job)
        with _lock:
            if self._closed:
                return
            pending = [f for f in self._pending.get(key, ()) if not f.done()]
            # ``job`` takes the ready one, if any: start one more unless one is on its way already
            if pending or len(_ready.get(key, ())) > 1:
                return
            pending.append(self._pool.submit(self._start, job, key))
            self._pending[key] = pending
            self._keys.add(key)

    def _start(self, job: Job, key: tuple) -> None:
        from jupyter_core.utils import run_sync

        from ..engine import kernel_arguments
        from .support import kernel_name

        if self._closed:
            return
        lifecycle.check_run(job.run_id)
        log = job.build_folder / f".warm-{uuid.uuid4().hex[:12]}.partial.log"
        km = lifecycle.new_kernel_manager(kernel_name(job.notebook, job.kernel), fork_from=job.fork_from)
        warm = WarmKernel(km, log, job.run_id)
        try:
            with open(log, "ab", buffering=0) as stream:
                run_sync(km.start_kernel)(extra_arguments=kernel_arguments(km), stdout=stream, stderr=stream,
                                          env={**os.environ, **job.env}, cwd=job.cwd)
            lifecycle.register(job.run_id, km)
        except Exception:  # the job forks its own kernel (and says why if that fails too)
            discard(warm)
            return
        with _lock:
            closed = self._closed
            if not closed:
                _ready.setdefault(key, []).append(warm)
        if closed:
            discard(warm)

    def close(self) -> None:
        """Kill every kernel started ahead that no job took."""
        with _lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        with _lock:
            left = [w for k in self._keys for w in _ready.pop(k, [])]
        for warm in left:
            discard(warm)
