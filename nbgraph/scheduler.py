"""Walk the plan: hand ready variants to an executor, every outcome to the build.

A variant is ready when each parent is available: it succeeded in this run, or it is
not part of this run and has a snapshot from an earlier one.  A failure marks only that
variant's descendants as skipped; siblings and other branches go on.  A failed variant
of a node with ``retries: N`` is submitted again, up to N more times.

The scheduler writes nothing itself: :class:`BuildSink` (``nbgraph.build.commit.Build``) makes
each job and commits each record.  A record is written only when a variant ends, so an interrupted or killed run leaves no
record for what was in flight, and the next run executes it again.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Protocol

import networkx as nx

from .executors.base import Executor
from .kernels.job import Job, Outcome
from .plan import Plan, Planned
from .build.records import Record
from .states import Failure, FailureKind, Status

UP_TO_DATE = Status.UP_TO_DATE


class Events(Protocol):
    """What the scheduler tells its caller (progress display, logs)."""

    def planned(self, total: int) -> None: ...
    def started(self, item: Planned) -> None: ...
    def finished(self, item: Planned, record: Record) -> None: ...


class _NoEvents:
    def planned(self, total: int) -> None:
        pass

    def started(self, item: Planned) -> None:
        pass

    def finished(self, item: Planned, record: Record) -> None:
        pass


@dataclass
class RunResult:
    """Every variant's record after the run, and what this run did to it."""

    plan: Plan
    records: dict[str, Record] = field(default_factory=dict)
    #: variant name -> what this run did to it (succeeded, failed, skipped, up to date, not selected, attached)
    outcome: dict[str, Status] = field(default_factory=dict)
    wall_time: float = 0.0
    #: attach: true nodes snapshotted from their live kernels before this run (live.attach.Attached)
    attached: list = field(default_factory=list)

    def names(self, outcome: str) -> list[str]:
        return [n for n, o in self.outcome.items() if o == outcome]

    @property
    def ok(self) -> bool:
        return not self.names(Status.FAILED)


class BuildSink(Protocol):
    """What the scheduler hands variants to when they are ready and when they end (:class:`nbgraph.build.commit.Build`)."""

    def available(self, variant: str) -> bool:
        """Whether the children of ``variant`` can start (it has a snapshot)."""
    def job(self, item: Planned, attempt: int) -> Job | Failure:
        """The job that runs ``item`` (its ``attempt``-th try), or why it cannot start."""
    def commit(self, item: Planned, outcome: Outcome, attempts: int) -> Record:
        """The written record of a variant that ran."""
    def skip(self, item: Planned, failure: Failure) -> Record:
        """The written record of a variant that will not run."""


class Scheduler:
    """Ready variants to the executor, outcomes to the build, a failure's descendants skipped."""

    def __init__(self, plan: Plan, executor: Executor, build: BuildSink, events: Events | None = None) -> None:
        self.plan = plan
        self.executor = executor
        self.build = build
        self.events = events or _NoEvents()
        self.result = RunResult(plan)
        self._attempts: dict[str, int] = {}

    def run(self) -> RunResult:
        started = time.monotonic()
        pending: dict[str, Planned] = {}
        for item in self.plan.items:
            name = item.variant.name
            if item.will_run:
                pending[name] = item
                continue
            self.result.outcome[name] = Status.UP_TO_DATE if item.selected else Status.NOT_SELECTED
            if item.record is not None:
                self.result.records[name] = item.record
        running: dict[Future, Planned] = {}
        self._rank = critical_path_ranks(self.plan, pending)
        self.events.planned(len(pending))
        try:
            while pending or running:
                for item in self._ready(pending, running):
                    del pending[item.variant.name]
                    self._submit(item, running, pending)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    item = running.pop(future)
                    outcome = future.result()
                    if not outcome.ok and self._attempts[item.variant.name] <= item.node.retries:
                        self._submit(item, running, pending)
                        continue
                    self._finish(item, self.build.commit(item, outcome, self._attempts[item.variant.name]), pending)
        finally:
            self.result.wall_time = time.monotonic() - started
        for item in list(pending.values()):  # unreachable: parents never became available
            self._skip(item, Failure(FailureKind.SKIPPED, "a parent has no snapshot"), pending)
        return self.result

    def _submit(self, item: Planned, running: dict[Future, Planned], pending: dict[str, Planned]) -> None:
        name = item.variant.name
        self._attempts[name] = self._attempts.get(name, 0) + 1
        job = self.build.job(item, self._attempts[name])
        self.events.started(item)
        if isinstance(job, Failure):
            outcome = Outcome(variant=name, ok=False, output=None, error=job.message, failure=job)
            self._finish(item, self.build.commit(item, outcome, self._attempts[name]), pending)
            return
        running[self.executor.submit(job)] = item

    def _ready(self, pending: dict[str, Planned], running: dict[Future, Planned]) -> list[Planned]:
        free = self.executor.slots - len(running)
        ready = [item for item in pending.values() if all(self.build.available(p) for p in item.variant.parents)]
        ready.sort(key=lambda item: -self._rank.get(item.variant.name, 0.0))  # stable: plan order breaks ties
        return ready[:max(free, 0)]

    def _finish(self, item: Planned, record: Record, pending: dict[str, Planned]) -> None:
        name = item.variant.name
        self.result.records[name] = record
        self.result.outcome[name] = record.status
        self.events.finished(item, record)  # the failure is reported before what it skips
        if record.status != Status.SUCCEEDED:
            for child in nx.descendants(self.plan.graph, name):
                if child in pending:
                    self._skip(pending[child], Failure(FailureKind.SKIPPED, f"parent {name} failed", parent=name),
                               pending)

    def _skip(self, item: Planned, failure: Failure, pending: dict[str, Planned]) -> None:
        pending.pop(item.variant.name, None)
        record = self.build.skip(item, failure)
        self.result.records[item.variant.name] = record
        self.result.outcome[item.variant.name] = Status.SKIPPED
        self.events.finished(item, record)


#: seconds assumed for a variant that has never run (its notebook's own cells are unknown)
UNKNOWN_DURATION = 1.0


def critical_path_ranks(plan: Plan, pending: dict[str, Planned]) -> dict[str, float]:
    """Per variant to run, the longest chain of runs it starts (itself included), in expected seconds.

    Starting the ready variant with the longest chain first keeps a long branch from being
    started last (the wall time is at least the critical path).  A variant's expected time
    is its last recorded duration.
    """
    ranks: dict[str, float] = {}
    for name in reversed(list(nx.topological_sort(plan.graph))):
        item = pending.get(name)
        if item is None:
            continue
        own = item.record.duration if item.record is not None and item.record.duration else UNKNOWN_DURATION
        ranks[name] = own + max((ranks[c] for c in plan.graph.successors(name) if c in ranks), default=0.0)
    return ranks
