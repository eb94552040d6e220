"""The executor contract: where the jobs of a run execute.  Each method says who calls it, when."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Mapping

from ..kernels.job import Job, Outcome

#: (parents, cwd, notebook, kernel) of one variant a run will execute (no parents: a root)
Child = tuple[tuple[str, ...], str, str, str | None]


@dataclass(frozen=True)
class RunInfo:
    """What an executor learns of a run before its first job (see :meth:`Executor.start_run`)."""

    run_id: str
    #: the variants the run will execute, for an executor that may fork them from a zygote holding
    #: their parents' state (or none); empty when they must start fresh kernels (``fork=False``...)
    children: tuple[Child, ...] = ()
    #: what the run adds to its kernels' environment (the same as each job's ``Job.env``)
    env: Mapping[str, str] = field(default_factory=dict)
    #: modules the children's zygotes will import loading parents that this run executes (as their
    #: previous snapshots name them): a forking executor imports them while those parents run
    imports_ahead: tuple[str, ...] = ()


class Executor(ABC):
    """Runs jobs, hands back futures of outcomes.  A run's calls, in order: :meth:`start_run`,
    :meth:`submit` (many), :meth:`cancel` if it is interrupted, :meth:`end_run`; then, only if
    the run created the executor, :meth:`shutdown`.  An executor never shuts down resources
    it did not create (e.g. a user's Dask client or cluster).
    """

    #: how many jobs it runs at once (the scheduler keeps at most this many submitted)
    slots: int = 1
    #: whether its kernels start on this machine: the runner then checks that the notebooks'
    #: kernels are installed here, and offers it children to fork (:attr:`RunInfo.children`)
    runs_kernels_here: bool = False

    def start_run(self, run: RunInfo) -> None:
        """Called by the runner once per run, before its first :meth:`submit`, whoever owns
        the executor; prepares what the run's jobs need (the local executor: its fork server).
        Several runs may share one executor, each with its own ``run_id``."""

    @abstractmethod
    def submit(self, job: Job) -> "Future[Outcome]":
        """Called by the scheduler once every parent snapshot of ``job`` exists (again for a
        retry); must not block on the job.  The future's result is an :class:`Outcome`: a
        notebook's failure is an outcome, not an exception (an exception means the executor
        itself failed)."""

    def cancel(self, run_id: str) -> None:
        """Called by the runner when a run is interrupted (Ctrl-C, SIGTERM), whoever owns the
        executor: stop the run's queued jobs and kill every kernel it started, wherever it runs;
        return within a few seconds.  Here: the kernels ``run_id`` started in this process
        (executors add their workers')."""
        from ..kernels.lifecycle import kill_run

        kill_run(run_id)

    def end_run(self, run_id: str) -> None:
        """Called by the runner once per run when it ends (after its last outcome, or after
        :meth:`cancel`), whoever owns the executor: release what :meth:`start_run` prepared."""

    @abstractmethod
    def shutdown(self, cancel: bool = False) -> None:
        """Called by whoever created the executor, when done with it (the runner, for one it
        made from a name; you, for yours; ``with executor:`` does it).  Releases what the
        executor started; with ``cancel``, kills the kernels of jobs still running first.
        Idempotent: later calls do nothing."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown(cancel=exc[0] is not None)
