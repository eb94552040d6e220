"""Run jobs on this machine: a pool of threads, each driving one papermill run.

Kernels are separate processes, so threads are enough to keep ``jobs`` kernels busy,
and the per-variant cost stays one kernel start (no extra interpreter per variant).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from ..kernels.job import Job, Outcome
from ..kernels.run import run_job
from .base import Executor

#: how long ``shutdown(cancel=True)`` waits for in-flight jobs to notice their kernel died
CANCEL_GRACE = 5.0


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class LocalExecutor(Executor):
    def __init__(self, jobs: int | None = None) -> None:
        self.slots = jobs or default_jobs()
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="nbgraph-job")
        self._futures: set[Future] = set()
        self._lock = threading.Lock()
        #: a ``kernels.fork.manager.ForkManager``: children fork from their parent's zygote
        self.forks = None

    def submit(self, job: Job) -> "Future[Outcome]":
        if self.forks is not None:
            future = self._pool.submit(self.forks.run, job, run_job)
        else:
            future = self._pool.submit(run_job, job)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def shutdown(self, cancel: bool = False) -> None:
        if cancel and self.forks is not None:
            self.forks.close()  # kills forked kernels, so running jobs end now
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if cancel:  # kernels are dead by now (cancel()); let their jobs clean up their temp files
            with self._lock:
                running = list(self._futures)
            wait(running, timeout=CANCEL_GRACE)
        if not cancel and self.forks is not None:
            self.forks.close()
