"""A real Dask cluster runs the graph; a real S3 protocol server (moto) holds the build."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from nbgraph import run
from nbgraph.build.records import SUCCEEDED

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow  # a real Dask cluster and real kernels


def small_graph(project, build_dir: str | None = None, extra: str = "") -> None:
    (project.root / "rows.txt").write_text("10\n")
    project.notebook("load.ipynb", "import os\nrows = list(range(int(open('rows.txt').read())))\nprint('loaded', flush=True)")
    project.notebook("train.ipynb", "score = sum(rows) * k\nprint('score', score)", parameters="k = 0")
    head = f"build_dir: {build_dir}\n" if build_dir else ""
    project.spec(head + extra + """
        notebooks:
          load: {path: load.ipynb}
          train: {path: train.ipynb, parent: load, grid: {k: [1, 2]}}
    """.replace("\n        ", "\n"))


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=":0") as c:
        yield c


def test_dask_scheduler_address_runs_the_graph_and_leaves_the_cluster_up(project, cluster):
    small_graph(project)
    lines: list[tuple[str, str]] = []
    result = run(project.root / "inheritance.yaml", executor="dask", scheduler=cluster.scheduler_address,
                 log_output=lambda variant, stream, text: lines.append((variant, text)))
    assert {r.status for r in result.records.values()} == {SUCCEEDED}
    assert lines.count(("train[k=2]", "score 90\n")) == 1  # forwarded from the worker once, not duplicated
    with distributed.Client(cluster.scheduler_address, timeout="5s") as client:  # not shut down by nbgraph
        assert sum(client.nthreads().values()) == 2


def test_dask_with_the_users_client_and_yaml_keys(project, cluster):
    small_graph(project, extra=f"executor: dask\nscheduler: {cluster.scheduler_address}\n")
    from nbgraph.executors.dask import DaskExecutor

    with distributed.Client(cluster) as client:
        result = run(project.root / "inheritance.yaml", executor=DaskExecutor(client))
        assert client.status == "running"
    assert {r.status for r in result.records.values()} == {SUCCEEDED}
    proc = project.cli("run", "--force", "--jobs", "2")  # executor and scheduler from the YAML
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 succeeded" in proc.stdout


def test_dask_without_a_scheduler_starts_and_closes_its_own_cluster(project):
    from distributed.deploy.spec import SpecCluster

    small_graph(project)

    def running():
        return ({c for c in distributed.Client._instances if c.status == "running"},
                {c for c in SpecCluster._instances if c.status.name == "running"})

    clients, clusters = running()
    result = run(project.root / "inheritance.yaml", executor="dask", jobs=2)
    assert {r.status for r in result.records.values()} == {SUCCEEDED}
    assert running() == (clients, clusters), "nbgraph left the client or cluster it started running"


def test_jobs_2_overlaps_independent_variants(project):
    project.notebook("base.ipynb", "x = 1")
    project.notebook("child.ipynb", "import time\ntime.sleep(1.5)", parameters="k = 0")
    project.spec("""
        notebooks:
          base: {path: base.ipynb}
          child: {path: child.ipynb, parent: base, grid: {k: [1, 2]}}
    """)
    result = run(project.root / "inheritance.yaml", jobs=2)
    a, b = result.records["child[k=1]"], result.records["child[k=2]"]
    assert a.status == b.status == SUCCEEDED
    assert max(a.started, b.started) < min(a.finished, b.finished), "the two children did not run at once"


def test_s3_build_location_with_dask_worker_processes(project, s3, monkeypatch, tmp_path):
    """The worker is another process with its own cache: everything it shares with us goes through S3."""
    endpoint, client = s3
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "cache-a"))
    small_graph(project, "s3://nbgraph-builds/study", f'storage_options: {{endpoint_url: "{endpoint}"}}\n')
    spec = project.root / "inheritance.yaml"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0",
                                  env={"NBGRAPH_CACHE_DIR": str(tmp_path / "worker-cache")}) as workers:
        result = run(spec, executor="dask", scheduler=workers.scheduler_address)
        assert {r.status for r in result.records.values()} == {SUCCEEDED}
        assert (tmp_path / "worker-cache").is_dir()
        keys = {o["Key"] for o in client.list_objects_v2(Bucket="nbgraph-builds", Prefix="study/")["Contents"]}
        assert {"study/load/default/load.ipynb", "study/load/default/load.log",
                "study/train/k=2/record.json"} <= keys
        raw = client.get_object(Bucket="nbgraph-builds", Key="study/train/k=2/record.json")["Body"].read()
        record = json.loads(raw)
        assert record["output"] == "s3://nbgraph-builds/study/train/k=2/train.ipynb"
        assert record["snapshot"].startswith("s3://nbgraph-builds/study/train/k=2/snapshot-")
        load_record = json.loads(client.get_object(Bucket="nbgraph-builds", Key="study/load/default/record.json")["Body"].read())
        assert list(load_record["uses"]["files"]) == ["rows.txt"]  # hashed on the worker, named relative to the spec
        executed = Path(result.records["train[k=2]"].output)
        assert executed.is_relative_to(tmp_path / "cache-a") and "score 90" in executed.read_text()

        # another machine (an empty cache): everything is up to date, read from S3
        monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "cache-b"))
        again = run(spec)
        assert set(again.outcome.values()) == {"up to date"}
        (project.root / "rows.txt").write_text("11\n")  # the client decides from the worker's hashes
        from nbgraph.plan import make_plan
        from nbgraph.spec import load_spec

        assert make_plan(load_spec(spec)).by_name["load"].decision.reason == "rows.txt changed"
        (project.root / "rows.txt").write_text("10\n")
        local = run(spec, only=["train"], force=True)  # the local executor against S3 too
        assert {local.outcome["train[k=1]"], local.outcome["train[k=2]"]} == {SUCCEEDED}

        # a snapshot altered in the bucket is refused before anything is unpickled (a cached copy
        # that still matches the signed manifest would be used as is: empty the worker's cache)
        snap = next(k for k in keys if k.startswith("study/load/default/snapshot-") and k.endswith("state.pkl"))
        client.put_object(Bucket="nbgraph-builds", Key=snap, Body=b"not what nbgraph wrote")
        shutil.rmtree(tmp_path / "worker-cache")
        tampered = run(spec, only=["train"], force=True, executor="dask", scheduler=workers.scheduler_address)
    assert tampered.records["train[k=1]"].status == "failed"
    assert "altered" in tampered.records["train[k=1]"].error


def test_missing_extra_names_the_install(monkeypatch):
    from nbgraph.errors import MissingExtra
    from nbgraph.extras import require

    checkout = Path(__file__).resolve().parents[1]  # the tests run from an editable install of it
    with pytest.raises(MissingExtra) as err:
        require("distributed_not_installed_here", "dask", "--executor dask")
    assert str(err.value).endswith(f"install it with: pip install -e '{checkout}[dask]'"), err.value


def test_unreachable_scheduler_is_one_clear_line_within_seconds(project):
    small_graph(project)
    started = time.monotonic()
    proc = project.cli("run", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 5 s" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert took < 20, took  # Dask alone waits 30 s; start-up and the 5 s are most of this


def test_a_failure_of_the_worker_says_which_worker_and_what_workers_need(project, cluster):
    small_graph(project, extra="kernel: not-installed-on-the-workers\n")
    result = run(project.root / "inheritance.yaml", executor="dask", scheduler=cluster.scheduler_address)
    error = result.records["load"].error
    worker = next(iter(cluster.scheduler_info["workers"]))
    assert error.startswith(f"on Dask worker {worker}: NoSuchKernel"), error
    assert "install that kernel there: every worker needs nbgraph, the notebooks' kernels" in error, error
    assert {result.records[n].status for n in ("train[k=1]", "train[k=2]")} == {"skipped"}


def test_an_event_loop_the_caller_remembered_does_not_reach_the_tasks(project):
    """jupyter_core's run_sync (behind jupyter_client's blocking clients, which ``attach`` uses)
    remembers an event loop in a context variable; with output forwarded, tasks of an in-process
    cluster ran in a copy of a context where that loop was already running (a variant failed)."""
    from jupyter_core.utils import run_sync

    async def nothing() -> None:
        return None

    run_sync(nothing)()
    small_graph(project)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=":0") as workers:
        result = run(project.root / "inheritance.yaml", executor="dask", scheduler=workers.scheduler_address,
                     log_output=lambda variant, stream, text: None)
    assert {r.status for r in result.records.values()} == {SUCCEEDED}, [r.error for r in result.records.values()]
