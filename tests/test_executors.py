"""The executor contract (executors/base.py), run against every implementation: the local
executor forking children from a zygote, the local executor starting fresh kernels, Dask."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

from conftest import PID_CELL, alive, outputs_of, pids, write_notebook, write_spec
from nbgraph.executors.base import Executor, RunInfo
from nbgraph.executors.local import LocalExecutor
from nbgraph.kernels.fork.manager import ZYGOTE_MAIN
from nbgraph.kernels.run import Job

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

#: what a child prints: its inherited x, whether it was forked, and what its job's env told it
REPORT = "import os, sys\nprint(x, 'nbgraph.kernels.fork.child' in sys.modules, os.environ.get('NBGRAPH_PROBE'))"


@pytest.fixture(scope="module")
def dask_cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as c:
        yield c


@dataclass
class Under:
    """An executor under test, and what a runner would tell it."""

    executor: Executor
    forks: bool  # offered the run's children to fork (the runner does so when it runs kernels here)
    project: Any
    snapshot: str

    def job(self, name: str, *cells: str, run_id: str = "run-1") -> Job:
        nb = self.project.notebook(f"{name}.ipynb", *cells)
        return Job(variant=name, node=name, notebook=str(nb), cwd=str(self.project.root), run_id=run_id,
                   output=str(self.project.root / "build" / name / "default" / f"{name}.ipynb"),
                   inherit=(("parent", self.snapshot),), env={"NBGRAPH_PROBE": f"told {name}"})

    def start(self, run_id: str, *jobs: Job) -> None:
        children = tuple(((p,), j.cwd, j.notebook, j.kernel) for j in jobs for p, _ in j.inherit)
        self.executor.start_run(RunInfo(run_id, children if self.forks else (), {"NBGRAPH_PROBE": "run"}))


@pytest.fixture(params=["local-fork", "local", "dask"])
def under(request, project):
    from nbgraph.snapshot.format import dump_namespace

    if request.param == "dask":
        from nbgraph.executors.dask import DaskExecutor

        ex: Executor = DaskExecutor(request.getfixturevalue("dask_cluster").scheduler_address)
    else:
        ex = LocalExecutor(2)
    dump_namespace({"x": 41}, project.root / "parent-snapshot")
    yield Under(ex, request.param == "local-fork", project, str(project.root / "parent-snapshot"))
    ex.shutdown(cancel=True)


def zygotes() -> list[psutil.Process]:
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if ZYGOTE_MAIN in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


def eventually(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_for_pid(project, future) -> int:
    assert eventually(lambda: bool(pids(project)) or future.done(), timeout=60) and not future.done()
    return pids(project)[0]


def test_a_notebook_failure_is_an_outcome_not_an_exception(under):
    good_job, bad_job = under.job("good", REPORT), under.job("bad", "raise ValueError('no good')")
    under.start("run-1", good_job, bad_job)
    good = under.executor.submit(good_job)
    bad = under.executor.submit(bad_job)
    assert good.result(timeout=120).ok
    outcome = bad.result(timeout=120)
    assert not outcome.ok and "ValueError: no good" in outcome.error
    assert under.executor.slots == 2
    # the child inherited, forked only where the run offered its children, and its kernel got the job's env
    assert outputs_of(under.project.root / "build/good/default/good.ipynb")[1] == f"41 {under.forks} told good\n"
    under.executor.end_run("run-1")


def test_start_run_and_end_run_bracket_each_run_on_one_executor(under):
    first = under.job("first", REPORT, run_id="run-a")
    under.start("run-a", first, under.job("never-submitted", REPORT))  # a zygote then waits for a second child
    assert under.executor.submit(first).result(timeout=120).ok
    assert bool(zygotes()) == under.forks
    under.executor.end_run("run-a")
    assert eventually(lambda: not zygotes()), "end_run left the run's zygote running"
    second = under.job("second", REPORT, run_id="run-b")  # the executor goes on with another run
    under.start("run-b", second)
    assert under.executor.submit(second).result(timeout=120).ok
    under.executor.end_run("run-b")
    assert outputs_of(under.project.root / "build/second/default/second.ipynb")[1] == f"41 {under.forks} told second\n"


def test_cancel_kills_the_runs_kernels_and_keeps_nothing_half_written(under):
    run_id = uuid.uuid4().hex  # a killed run id is refused for good in this process
    job = under.job("slow", PID_CELL, "import time\ntime.sleep(120)", run_id=run_id)
    under.start(run_id, job)
    future = under.executor.submit(job)
    pid = wait_for_pid(under.project, future)
    under.executor.cancel(run_id)
    outcome = future.result(timeout=30)
    assert not outcome.ok
    assert not alive(pid)
    assert not (under.project.root / "build/slow/default/slow.ipynb").exists()
    under.executor.end_run(run_id)


def test_cancel_stops_only_its_own_run(under):
    mine, other = uuid.uuid4().hex, uuid.uuid4().hex
    pid_cell = "import os\nopen(f'pid-{os.environ[\"NBGRAPH_PROBE\"][5:]}.txt', 'w').write(str(os.getpid()))"
    jobs = {run: under.job(f"sleep-{run[:6]}", pid_cell, "import time\ntime.sleep(120)", run_id=run)
            for run in (mine, other)}
    futures = {}
    for run, job in jobs.items():
        under.start(run, job)
        futures[run] = under.executor.submit(job)
    pid_files = {run: under.project.root / f"pid-sleep-{run[:6]}.txt" for run in jobs}
    assert eventually(lambda: all(p.exists() and p.read_text() for p in pid_files.values()), timeout=60)
    under.executor.cancel(mine)
    assert not futures[mine].result(timeout=30).ok
    assert alive(int(pid_files[other].read_text())) and not futures[other].done()
    under.executor.cancel(other)
    assert not futures[other].result(timeout=30).ok
    for run in jobs:
        under.executor.end_run(run)


def test_shutdown_with_cancel_kills_running_kernels_and_is_idempotent(under):
    job = under.job("slow", PID_CELL, "import time\ntime.sleep(120)", run_id=uuid.uuid4().hex)
    under.start(job.run_id, job)
    future = under.executor.submit(job)
    pid = wait_for_pid(under.project, future)
    under.executor.shutdown(cancel=True)
    assert not future.result(timeout=30).ok
    assert eventually(lambda: not alive(pid))
    assert eventually(lambda: not zygotes())
    under.executor.shutdown()  # again: nothing left to do, no error
    under.executor.shutdown(cancel=True)


def test_a_run_never_shuts_down_an_executor_it_was_given(under, monkeypatch):
    from nbgraph import run

    project = under.project
    project.notebook("p.ipynb", "x = 41")
    project.notebook("c.ipynb", REPORT, parameters="k = 0")
    spec = project.spec("notebooks:\n  p: p.ipynb\n  c: {path: c.ipynb, parent: p, grid: {k: [1, 2]}}\n")
    calls: list[str] = []
    for name in ("start_run", "end_run", "shutdown"):
        method = getattr(under.executor, name)
        monkeypatch.setattr(under.executor, name, lambda *a, _m=method, _n=name, **k: (calls.append(_n), _m(*a, **k))[1])
    result = run(spec, executor=under.executor, fork=under.forks)
    assert result.ok
    assert calls == ["start_run", "end_run"]  # never shutdown: the executor is the caller's
    forked = under.forks and under.executor.runs_kernels_here
    assert f"41 {forked} None\n" in outputs_of(project.root / "build/c/k=1/c.ipynb")
    later = under.job("later", REPORT)  # still usable
    under.start("run-later", later)
    assert under.executor.submit(later).result(timeout=120).ok
    under.executor.end_run("run-later")


def test_runs_kernels_here_says_where_kernels_start(under):
    assert under.executor.runs_kernels_here is isinstance(under.executor, LocalExecutor)


def test_a_users_dask_client_is_never_closed(dask_cluster, tmp_path):
    from nbgraph import run
    from nbgraph.executors.dask import DaskExecutor

    write_notebook(tmp_path / "a.ipynb", "x = 1")
    spec = write_spec(tmp_path, "notebooks:\n  a: a.ipynb\n")
    with distributed.Client(dask_cluster) as client:
        assert run(spec, executor="dask", scheduler=client).ok  # the run's own executor, the user's client
        assert client.status == "running"
        executor = DaskExecutor(client)
        executor.shutdown(cancel=True)
        executor.shutdown()
        assert client.status == "running"
        assert sum(client.nthreads().values()) == 2
