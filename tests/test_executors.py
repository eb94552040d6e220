"""The executor contract (executors/base.py), run against every implementation."""

from __future__ import annotations

import time
import uuid

import pytest

from conftest import PID_CELL, alive, pids
from nbgraph.executors.local import LocalExecutor
from nbgraph.kernels.run import Job

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as c:
        yield c


@pytest.fixture(params=["local", "dask"])
def executor(request):
    if request.param == "local":
        ex = LocalExecutor(2)
    else:
        from nbgraph.executors.dask import DaskExecutor

        ex = DaskExecutor(request.getfixturevalue("dask_cluster").scheduler_address)
    yield ex
    ex.shutdown(cancel=True)


def job(project, name: str, *cells: str, run_id: str = "run-1") -> Job:
    nb = project.notebook(f"{name}.ipynb", *cells)
    return Job(variant=name, node=name, notebook=str(nb), cwd=str(project.root), run_id=run_id,
               output=str(project.root / "build" / name / "default" / f"{name}.ipynb"))


def test_a_notebook_failure_is_an_outcome_not_an_exception(project, executor):
    good = executor.submit(job(project, "good", "print('ok')"))
    bad = executor.submit(job(project, "bad", "raise ValueError('no good')"))
    assert good.result(timeout=120).ok
    outcome = bad.result(timeout=120)
    assert not outcome.ok and "ValueError: no good" in outcome.error
    assert executor.slots == 2


def test_cancel_kills_the_runs_kernels_and_keeps_nothing_half_written(project, executor):
    run_id = uuid.uuid4().hex  # a killed run id is refused for good in this process
    future = executor.submit(job(project, "slow", PID_CELL, "import time\ntime.sleep(120)", run_id=run_id))
    deadline = time.monotonic() + 60
    while not pids(project):
        assert time.monotonic() < deadline and not future.done()
        time.sleep(0.1)
    executor.cancel(run_id)
    outcome = future.result(timeout=30)
    assert not outcome.ok
    assert not alive(pids(project)[0])
    assert not (project.root / "build/slow/default/slow.ipynb").exists()
