"""The executor contract: the scheduler hands it jobs, it hands back futures of outcomes.

* ``submit(job)`` is called by the scheduler only when every parent snapshot of the job
  exists; it must not block on the job and returns a ``concurrent.futures.Future`` whose
  result is a :class:`~nbgraph.kernels.job.Outcome` (a notebook's failure is an outcome,
  not an exception; an exception means the executor itself failed).
* ``cancel(run_id)`` is called by the runner when a run is interrupted (Ctrl-C, SIGTERM),
  whoever owns the executor: it stops the queued jobs of that run and kills every kernel
  the run started, wherever it runs.  It must return within a few seconds.
* ``shutdown(cancel)`` is called once by whoever created the executor when the run ends
  or is interrupted; it releases what the executor started.  An executor never shuts
  down resources it did not create (e.g. a user's Dask client or cluster).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future

from ..kernels.job import Job, Outcome


class Executor(ABC):
    #: how many jobs it runs at once (the scheduler keeps at most this many submitted)
    slots: int = 1

    @abstractmethod
    def submit(self, job: Job) -> "Future[Outcome]":
        """Start ``job`` (or queue it) and return its future."""

    @abstractmethod
    def shutdown(self, cancel: bool = False) -> None:
        """Release what this executor started; with ``cancel``, stop running jobs too."""

    def cancel(self, run_id: str) -> None:
        """Kill the kernels ``run_id`` started in this process (executors add their workers')."""
        from ..kernels.lifecycle import kill_run

        kill_run(run_id)

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown(cancel=exc[0] is not None)
