"""The scheduler alone: a real plan and a real build folder, a scripted executor in place of kernels.

What it must do whatever runs the notebooks: hand a variant over only once its parents
have snapshots, keep at most ``slots`` jobs in flight, retry a node's failures, skip a
failure's descendants (and only them), and leave no record for what an interrupt cut short.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import Future

import pytest

from conftest import write_notebook, write_spec
from nbgraph.build.commit import Build
from nbgraph.executors.base import Executor
from nbgraph.kernels.job import Outcome
from nbgraph.plan import make_plan
from nbgraph.scheduler import Scheduler
from nbgraph.spec import load_spec
from nbgraph.states import Failure, FailureKind, Status

SPEC = """
    notebooks:
      base:
        path: nb/base.ipynb
        grid: {seed: [1, 2]}
      mid:
        path: nb/mid.ipynb
        parent: base
        grid: {k: [1, 2]}
        retries: 2
      leaf:
        path: nb/leaf.ipynb
        parent: mid
        grid: {c: [1, 2]}
"""


class Scripted(Executor):
    """Answers each job after ``delay`` seconds from a script: variant -> one ok/fail per attempt."""

    def __init__(self, slots: int, script: dict[str, list[bool]] | None = None, delay: float = 0.01,
                 interrupt_at: int | None = None) -> None:
        self.slots = slots
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.delay = delay
        self.interrupt_at = interrupt_at
        self.submitted: list[tuple[str, int]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def submit(self, job):
        self.submitted.append((job.variant, job.attempt))
        if self.interrupt_at is not None and len(self.submitted) == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, in the middle of the run
        ok = self.script[job.variant].pop(0) if self.script.get(job.variant) else True
        future: Future = Future()
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

        def answer():
            with self._lock:
                self.in_flight -= 1
            if ok:
                future.set_result(Outcome(variant=job.variant, ok=True, output=None, snapshot=job.snapshot))
            else:
                failure = Failure(FailureKind.CELL_ERROR, "ValueError: scripted, raised in cell 1 (boom())",
                                  cell=1, cell_line="boom()", ename="ValueError", evalue="scripted")
                future.set_result(Outcome(variant=job.variant, ok=False, output=None, error=failure.message,
                                          failure=failure))

        if self.interrupt_at is None or len(self.submitted) < self.interrupt_at:
            threading.Timer(self.delay, answer).start()
        return future

    def shutdown(self, cancel: bool = False) -> None:
        pass


class Told:
    """The scheduler's events, in order."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def planned(self, total):
        self.said.append(("planned", str(total)))

    def started(self, item):
        self.said.append(("started", item.variant.name))

    def finished(self, item, record):
        self.said.append((str(record.status), item.variant.name))


@pytest.fixture
def plan(tmp_path):
    for name in ("base", "mid", "leaf"):
        write_notebook(tmp_path / f"nb/{name}.ipynb", "x = 1")
    return make_plan(load_spec(write_spec(tmp_path, SPEC)))


def run(plan, executor, events=None):
    return Scheduler(plan, executor, Build(plan), events).run()


def test_every_variant_runs_after_its_parents_and_is_recorded(plan):
    executor = Scripted(slots=3)
    told = Told()
    result = run(plan, executor, told)
    assert result.ok and len(result.names(Status.SUCCEEDED)) == 14
    order = [name for what, name in told.said if what == "started"]
    finished = [name for what, name in told.said if what == "succeeded"]
    for item in plan.items:  # started only once every parent had finished
        for parent in item.variant.parents:
            assert finished.index(parent) < finished.index(item.variant.name)
            assert told.said.index(("succeeded", parent)) < told.said.index(("started", item.variant.name))
    assert sorted(order) == sorted(i.variant.name for i in plan.items)
    again = plan.redecide()  # every record is in the build folder
    assert all(i.record is not None and i.record.status == Status.SUCCEEDED for i in again.items)


def test_at_most_slots_jobs_are_in_flight(plan):
    executor = Scripted(slots=2, delay=0.03)
    run(plan, executor)
    assert executor.most_in_flight == 2


def test_a_failure_is_retried_as_often_as_the_node_says(plan):
    mid = next(i.variant.name for i in plan.items if i.variant.node == "mid")
    executor = Scripted(slots=2, script={mid: [False, False, True]})
    result = run(plan, executor)
    assert result.ok
    assert [a for v, a in executor.submitted if v == mid] == [1, 2, 3]
    assert result.records[mid].attempts == 3 and result.records[mid].failure is None


def test_a_failure_skips_its_descendants_only(plan):
    mids = [i.variant.name for i in plan.items if i.variant.node == "mid"]
    failing = mids[0]
    executor = Scripted(slots=2, script={failing: [False, False, False]})  # fails all 3 attempts
    told = Told()
    result = run(plan, executor, told)
    assert result.outcome[failing] == Status.FAILED and result.records[failing].attempts == 3
    below = [n for n in plan.graph.successors(failing)]
    assert len(below) == 2
    for name in below:
        record = result.records[name]
        assert result.outcome[name] == Status.SKIPPED and record.status == "skipped"
        assert record.error == f"skipped: parent {failing} failed"
        assert record.why_not.kind == FailureKind.SKIPPED and record.why_not.parent == failing
        assert told.said.index(("failed", failing)) < told.said.index(("skipped", name))
    assert all(v not in below for v, _ in executor.submitted)
    others = [i.variant.name for i in plan.items if i.variant.name not in below + [failing]]
    assert all(result.outcome[n] == Status.SUCCEEDED for n in others)  # siblings and other branches go on
    failure = result.records[failing].why_not
    assert (failure.kind, failure.cell, failure.ename, failure.node) == (FailureKind.CELL_ERROR, 1, "ValueError", "mid")
    on_disk = plan.redecide().by_name[failing].record  # the record.json carries it, field by field
    assert on_disk.failure["kind"] == "cell error" and on_disk.failure["variant"] == failing


def test_an_interrupt_leaves_no_record_for_what_was_in_flight(plan):
    executor = Scripted(slots=1, interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        run(plan, executor)
    first, cut = executor.submitted[0][0], executor.submitted[1][0]
    records = {i.variant.name: i.record for i in plan.redecide().items}
    assert records[first] is not None and records[first].status == Status.SUCCEEDED
    assert records[cut] is None
    assert [n for n, r in records.items() if r is not None] == [first]


def test_an_unusable_parent_snapshot_fails_the_child_before_it_is_submitted(plan, tmp_path):
    """A snapshot from an earlier run is checked before any child of it starts; a missing one is refused."""
    base = next(i for i in plan.items if i.variant.node == "base")
    run(plan, Scripted(slots=2))  # every base record now names a snapshot the script never wrote
    forced = make_plan(plan.spec, force=True, only=["mid"])
    executor = Scripted(slots=2)
    result = run(forced, executor)
    children = list(forced.graph.successors(base.variant.name))
    for name in children:
        assert result.outcome[name] == Status.FAILED
        assert result.records[name].why_not.kind == FailureKind.SNAPSHOT_REFUSED
        assert result.records[name].error.startswith(str(forced.layout.variant_dir(base.variant)))
        assert "no snapshot here" in result.records[name].error
    assert all(v not in children for v, _ in executor.submitted)


def test_a_variant_that_runs_again_is_not_a_parent_until_it_ends(plan):
    """Its snapshot from the earlier run is about to be replaced: no child may start from it."""
    run(plan, Scripted(slots=3))
    forced = make_plan(plan.spec, force=True)
    told = Told()
    run(forced, Scripted(slots=3), told)
    for item in forced.items:
        for parent in item.variant.parents:
            assert told.said.index(("succeeded", parent)) < told.said.index(("started", item.variant.name))


def test_the_ready_variant_that_starts_the_longest_chain_goes_first(tmp_path):
    """Critical path first: a short side branch listed first must not delay the long chain."""
    for name in ("root", "side", "a", "b", "c"):
        write_notebook(tmp_path / f"nb/{name}.ipynb", "x = 1")
    spec = write_spec(tmp_path, """
        notebooks:
          root: {path: nb/root.ipynb}
          side: {path: nb/side.ipynb, parent: root, grid: {s: [1, 2, 3]}}
          a: {path: nb/a.ipynb, parent: root}
          b: {path: nb/b.ipynb, parent: a}
          c: {path: nb/c.ipynb, parent: b}
    """)
    plan = make_plan(load_spec(spec))
    executor = Scripted(slots=1)
    assert run(plan, executor).ok
    order = [variant for variant, _ in executor.submitted]
    assert order[:2] == ["root", "a"], order       # a starts a chain of 3 runs, each side variant 1
    assert order.index("b") < order.index("side[s=2]")


def test_a_variant_known_to_be_slow_goes_before_quick_ones(tmp_path):
    from nbgraph.scheduler import critical_path_ranks

    for name in ("root", "quick", "slow"):
        write_notebook(tmp_path / f"nb/{name}.ipynb", "x = 1")
    spec = write_spec(tmp_path, """
        notebooks:
          root: {path: nb/root.ipynb}
          quick: {path: nb/quick.ipynb, parent: root}
          slow: {path: nb/slow.ipynb, parent: root}
    """)
    assert run(make_plan(load_spec(spec)), Scripted(slots=1)).ok
    plan = make_plan(load_spec(spec), force=True)
    plan.by_name["slow"].record.duration = 30.0  # as an earlier run recorded them
    plan.by_name["root"].record.duration = 2.0
    ranks = critical_path_ranks(plan, {i.variant.name: i for i in plan.items})
    assert ranks == {"root": 32.0, "slow": 30.0, "quick": 1.0}  # quick: its scripted 0 s counts as unknown
    executor = Scripted(slots=1)
    assert Scheduler(plan, executor, Build(plan)).run().ok
    assert [v for v, _ in executor.submitted] == ["root", "slow", "quick"]
