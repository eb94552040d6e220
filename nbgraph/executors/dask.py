"""Run each variant as a task on a Dask distributed cluster (``nbgraph[dask]``).

The workers run papermill themselves, so every worker must be able to import nbgraph,
start the notebooks' kernels, read the notebooks (same paths) and reach the build
location: a folder mounted on every machine, or an fsspec URL (``s3://...``).  They must
also share the user's signing key: they verify the parents' snapshots and sign their own.
A key file the run names (``key_file=``, ``$NBGRAPH_KEY_FILE``) goes to them in each job's
``env`` and must exist at that path there; otherwise each uses its own default key.

Ownership is explicit.  Given a ``Client``, the executor uses it and never closes it.
Given an address, it opens its own client to that scheduler and closes only that client:
the cluster was not started by nbgraph and is never shut down.  Given neither, it starts
an in-process ``LocalCluster`` and closes it at the end.

A task that fails on the Dask side (the worker died, e.g. killed for memory) fails its
variant with Dask's reason, like a notebook failure: the rest of the graph goes on.
On interrupt, ``cancel`` cancels this run's tasks and kills this run's kernels on every
worker (other users' runs on a shared cluster are not touched).
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
import uuid
from concurrent.futures import Future
from typing import Any

from ..kernels.job import Job, Outcome
from ..kernels.run import run_job
from .base import Executor


#: what a failure that is the worker's, not the notebook's, tells the user to give every worker
WORKER_NEEDS = ("every worker needs nbgraph, the notebooks' kernels, the notebooks at the same paths, the build "
                "location (with its credentials, for s3:// and other URLs) and the signing key (README: Storage and Dask)")

#: seconds to reach a scheduler before saying it cannot be reached (Dask's own default is 30)
CONNECT_TIMEOUT = 5


def _run_on_worker(job: Job, topic: str | None) -> Outcome:
    """The task: one variant on a worker; output goes to the client's terminal if asked.

    A failure of the worker's own making (no such kernel there, no access to the build
    location) says which worker and what workers need, rather than Dask's bare exception.
    """
    from distributed import get_worker

    worker = get_worker()
    sink = None
    if topic is not None:
        def sink(variant: str, stream: str, text: str) -> None:
            worker.log_event(topic, [variant, stream, text])

    try:
        # a fresh context: Dask runs tasks in a copy of the submitting context, which may carry the
        # event loop jupyter_core's run_sync remembered there (e.g. Dask's own, already running)
        outcome = contextvars.Context().run(run_job, job, sink=sink)
    except Exception as e:  # e.g. the build location refused this worker's credentials
        reason = f"{type(e).__name__}: {e}".strip().splitlines()[0]
        return Outcome(variant=job.variant, ok=False, output=None, error=f"on Dask worker {worker.address}: "
                       f"{reason}; {WORKER_NEEDS}")
    if not outcome.ok and (outcome.error or "").startswith("NoSuchKernel"):
        error = f"on Dask worker {worker.address}: {outcome.error}; install that kernel there: {WORKER_NEEDS}"
        outcome = dataclasses.replace(outcome, error=error)
    return outcome


def _kill_run_on_worker(run_id: str) -> int:
    from ..kernels.lifecycle import kill_run

    return kill_run(run_id)


class DaskExecutor(Executor):
    runs_kernels_here = False  # even an in-process cluster's: kernels are the workers' business

    def __init__(self, scheduler: Any = None, jobs: int | None = None, *, forward_output: bool = False) -> None:
        from ..extras import require

        distributed = require("distributed", "dask", "--executor dask")
        self._cluster = None
        if isinstance(scheduler, distributed.Client):
            self.client, self._owns_client = scheduler, False
        else:
            if scheduler is None:
                self._cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=jobs or 2, processes=False,
                                                         dashboard_address=":0")
                scheduler = self._cluster
            try:
                self.client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
            except OSError as e:
                from ..errors import NbgraphError

                if self._cluster is not None:
                    self._cluster.close()
                raise NbgraphError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT} s "
                                   f"({e}); check the address "
                                   "(--scheduler or 'scheduler:' in the YAML) and that the scheduler is running",
                                   scheduler=str(scheduler)) from None
            self._owns_client = True
        threads = sum(self.client.nthreads().values()) or 1
        self.slots = jobs or threads
        self._futures: dict[Any, tuple[Future, str]] = {}  # Dask's future -> ours, and its run's id
        self._lock = threading.Lock()
        self._closed = False
        self._topic = f"nbgraph-output-{uuid.uuid4().hex}" if forward_output else None
        if self._topic:
            from ..kernels.logs import broadcast

            self.client.subscribe_topic(self._topic, lambda event: broadcast(*event[1]))

    def submit(self, job: Job) -> "Future[Outcome]":
        key = f"nbgraph-{job.variant}-{uuid.uuid4().hex[:8]}"
        dfuture = self.client.submit(_run_on_worker, job, self._topic, key=key, pure=False)
        future: Future = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._futures[dfuture] = (future, job.run_id)

        def done(df: Any) -> None:
            with self._lock:
                self._futures.pop(df, None)
            try:
                future.set_result(df.result())
            except BaseException as e:  # the task failed on Dask's side: the variant fails
                reason = f"{type(e).__name__}: {e}".strip().splitlines()[0]
                future.set_result(Outcome(variant=job.variant, ok=False, output=None,
                                          error=f"Dask task failed ({reason})"))

        dfuture.add_done_callback(done)
        return future

    def cancel(self, run_id: str) -> None:
        super().cancel(run_id)
        with self._lock:
            dfutures = [df for df, (_, run) in self._futures.items() if run == run_id]
        try:
            if dfutures:
                self.client.cancel(dfutures, force=True)
            self.client.run(_kill_run_on_worker, run_id, wait=True, on_error="ignore")
        except Exception:
            pass  # a scheduler that is gone has no kernels left to kill

    def shutdown(self, cancel: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if cancel:
            with self._lock:
                runs = {run for _, run in self._futures.values()}
            for run_id in runs:
                self.cancel(run_id)
        if self._topic:
            try:
                self.client.unsubscribe_topic(self._topic)
            except Exception:
                pass
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
