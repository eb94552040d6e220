"""Run jobs on this machine: a pool of threads, each driving one papermill run.

Kernels are separate processes, so threads are enough to keep ``jobs`` kernels busy,
and the per-variant cost stays one kernel start (no extra interpreter per variant).
Children fork from a zygote holding their parents' state (``kernels.fork``): the executor
owns one fork manager per run, made in ``start_run`` and closed in ``end_run`` (or ``shutdown``).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from ..kernels.job import Job, Outcome
from ..kernels.run import run_job
from .base import Executor, RunInfo

#: how long ``shutdown(cancel=True)`` waits for in-flight jobs to notice their kernel died
CANCEL_GRACE = 5.0


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class LocalExecutor(Executor):
    runs_kernels_here = True

    def __init__(self, jobs: int | None = None) -> None:
        self.slots = jobs or default_jobs()
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="nbgraph-job")
        self._futures: dict[Future, str] = {}  # in flight -> its run's id
        self._lock = threading.Lock()
        #: run id -> its ``kernels.fork.manager.ForkManager``: children fork from their parent's zygote
        self._forks: dict[str, Any] = {}
        self._closed = False

    def start_run(self, run: RunInfo) -> None:
        from ..kernels.execute import import_papermill

        # papermill takes ~0.3 s to import: paid while the first job waits for its zygote, not after
        threading.Thread(target=import_papermill, name="nbgraph-import-papermill", daemon=True).start()
        if not run.children:
            return
        from ..kernels.fork.manager import fork_manager

        forks = fork_manager(run.children, env=run.env, imports_ahead=run.imports_ahead)
        if forks is not None:
            with self._lock:
                self._forks[run.run_id] = forks

    def submit(self, job: Job) -> "Future[Outcome]":
        with self._lock:
            forks = self._forks.get(job.run_id)
        if forks is not None:
            future = self._pool.submit(forks.run, job, run_job)
        else:
            future = self._pool.submit(run_job, job)
        with self._lock:
            self._futures[future] = job.run_id
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._futures.pop(future, None)

    def end_run(self, run_id: str) -> None:
        with self._lock:
            forks = self._forks.pop(run_id, None)
        if forks is not None:
            forks.close()  # kills forked kernels still running (an interrupted run's)

    def shutdown(self, cancel: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if cancel:
            with self._lock:
                runs = set(self._futures.values())
            for run_id in runs:
                self.cancel(run_id)
            self._end_runs()  # kills forked kernels, so running jobs end now
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if cancel:  # kernels are dead by now; let their jobs clean up their temp files
            with self._lock:
                running = list(self._futures)
            wait(running, timeout=CANCEL_GRACE)
        self._end_runs()

    def _end_runs(self) -> None:
        with self._lock:
            runs = list(self._forks)
        for run_id in runs:
            self.end_run(run_id)
