"""Faults end a variant, not the run: a hung cell, a dying kernel, flaky notebooks; live logs."""

from __future__ import annotations

import json

import pytest

from conftest import PID_CELL, alive, outputs_of, pids
from nbgraph import run
from nbgraph.build.records import FAILED, SKIPPED, SUCCEEDED


@pytest.mark.slow
def test_hung_cell_times_out_and_its_kernel_is_killed(project):
    project.notebook("base.ipynb", "x = 1")
    project.notebook("hang.ipynb", PID_CELL, "import time\ntime.sleep(120)", "print('never')")
    project.notebook("ok.ipynb", "print('fine', x)")
    project.notebook("after.ipynb", "print('unreachable')")
    project.spec("""
        notebooks:
          base: {path: base.ipynb}
          hang: {path: hang.ipynb, parent: base, timeout: 1.5}
          ok: {path: ok.ipynb, parent: base}
          after: {path: after.ipynb, parent: hang}
    """)
    result = run(project.root / "inheritance.yaml", jobs=2)
    hang = result.records["hang"]
    assert hang.status == FAILED
    assert hang.error.startswith("timed out in cell 2 (import time)")
    assert "after 1.5s" in hang.error
    [pid] = pids(project)
    assert not alive(pid)
    assert result.records["ok"].status == SUCCEEDED
    assert result.records["after"].status == SKIPPED
    log = (project.root / "build/hang/default/hang.log").read_text()
    assert "timed out in cell 2" in log
    executed = json.loads((project.root / "build/hang/default/hang.ipynb").read_text())  # as far as it got
    assert executed["metadata"]["nbgraph"]["error"] == hang.error
    ran = {"".join(c["source"]): c.get("execution_count") for c in executed["cells"]}
    assert ran["import time\ntime.sleep(120)"] and ran["print('never')"] is None  # cut short there
    assert hang.output == str(project.root / "build/hang/default/hang.ipynb")


@pytest.mark.slow
def test_kernel_that_dies_fails_only_its_variant(project):
    project.notebook("base.ipynb", "x = 1")
    project.notebook("die.ipynb", "print('about to die', flush=True)", "import os\nos._exit(7)")
    project.notebook("oom.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer does")
    project.notebook("ok.ipynb", "print('fine', x)")
    project.notebook("exits.ipynb", "y = 2", "import sys\nsys.exit(0)")  # papermill: a clean early stop
    project.spec("""
        notebooks:
          base: {path: base.ipynb}
          exits: {path: exits.ipynb, parent: base}
          die: {path: die.ipynb, parent: base}
          oom: {path: oom.ipynb, parent: base}
          ok: {path: ok.ipynb, parent: base}
    """)
    result = run(project.root / "inheritance.yaml", jobs=2)
    die = result.records["die"]
    assert die.status == FAILED
    assert die.error.startswith("kernel died in cell 2 (import os) (exit code 7)")
    assert result.records["oom"].error.startswith("kernel died in cell 1 (import os, signal) (killed by SIGKILL")
    assert result.records["ok"].status == SUCCEEDED
    # not "no snapshot here": the notebook ended before nbgraph's snapshot cell could run
    assert result.records["exits"].error.startswith(
        "the notebook stopped early (SystemExit: 0, raised in cell 2 (import sys)), so its state was not saved")
    assert "about to die" in (project.root / "build/die/default/die.log").read_text()


def test_fault_errors_survive_pickling():
    import pickle

    from nbgraph.errors import MissingExtra
    from nbgraph.kernels.faults import KernelFault

    fault = pickle.loads(pickle.dumps(KernelFault("timed out in cell 2", "timeout", 2)))
    assert (str(fault), fault.kind, fault.cell) == ("timed out in cell 2", "timeout", 2)
    extra = pickle.loads(pickle.dumps(MissingExtra("needs dask", module="distributed", extra="dask")))
    assert extra.extra == "dask" and extra.exit_code == 2


@pytest.mark.slow
def test_retries_rerun_a_flaky_notebook(project):
    project.notebook("flaky.ipynb", """
        import os
        n = int(open('count.txt').read()) if os.path.exists('count.txt') else 0
        open('count.txt', 'w').write(str(n + 1))
        assert n >= 1, 'flaky on the first try'
    """)
    project.spec("""
        notebooks:
          flaky: {path: flaky.ipynb, retries: 1}
    """)
    result = run(project.root / "inheritance.yaml")
    record = result.records["flaky"]
    assert record.status == SUCCEEDED
    assert record.attempts == 2
    assert (project.root / "count.txt").read_text() == "2"
    log = (project.root / "build/flaky/default/flaky.log").read_text()
    assert "flaky on the first try" in log and "nbgraph: attempt 2 (retries)" in log  # both attempts kept


@pytest.mark.slow
def test_live_log_and_log_output_and_kernel_stderr_off_the_terminal(project):
    project.notebook("a.ipynb", "print('hello'); import sys; print('warned', file=sys.stderr)", "print('bye')",
                     "get_ipython().kernel.log.warning('the kernel process itself')")  # its own stderr, no cell output
    project.notebook("b.ipynb", "print('child of a')")
    project.spec("""
        notebooks:
          a: {path: a.ipynb}
          b: {path: b.ipynb, parent: a}
    """)
    proc = project.cli("run", "--log-output", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    terminal = proc.stdout + proc.stderr
    assert "without encryption" not in terminal and "the kernel process itself" not in terminal
    assert "[a] hello" in terminal and "[a] warned" in terminal and "[b] child of a" in terminal
    log = (project.root / "build/a/default/a.log").read_text()
    assert "hello\n" in log and "warned\n" in log and "bye\n" in log
    assert "the kernel process itself" in log  # the kernel process's own stderr lands in the variant's log
    assert "without encryption" not in log  # kernels talk over IPC: ipykernel has nothing to warn about

    shown = project.cli("logs", "b")
    assert shown.returncode == 0 and "child of a" in shown.stdout
    followed = project.cli("logs", "b", "--follow")  # no run in progress: prints and ends
    assert followed.returncode == 0 and "child of a" in followed.stdout
    missing = project.cli("logs", "nope")
    assert missing.returncode == 2 and "nope: no such node or variant in inheritance.yaml" in missing.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fork", [False, True], ids=["fresh", "forked"])
def test_writes_to_file_descriptors_are_logged_once(project, monkeypatch, fork):
    """Issue 10, item 13: ``os.write(1, ...)``, a subprocess's or a C library's output appeared twice."""
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)  # under pytest ipykernel leaves fds 1 and 2 alone
    cell = "import os\nos.write(1, b'fd-out\\n')\nos.write(2, b'fd-err\\n')\nos.system('echo sub-out')\nprint('py-out')"
    project.notebook("base.ipynb", cell)
    project.notebook("child.ipynb", cell, "import sys\nprint('forked', 'nbgraph.kernels.fork.child' in sys.modules)")
    project.spec("""
        notebooks:
          base: {path: base.ipynb}
          child: {path: child.ipynb, parent: base}
    """)
    assert run(project.root / "inheritance.yaml", fork=fork).ok
    for log in (project.root / "build/base/default/base.log", project.root / "build/child/default/child.log"):
        text = log.read_text()
        assert [text.count(w) for w in ("fd-out", "fd-err", "sub-out", "py-out")] == [1, 1, 1, 1], text
        shown = "".join(outputs_of(log.with_suffix(".ipynb")))
        assert all(w in shown for w in ("fd-out", "fd-err", "sub-out", "py-out")), shown  # as JupyterLab shows it
    assert f"forked {fork}" in text


@pytest.mark.parametrize("field, value, message", [
    ("retries", "-1", "whole number of retries"),
    ("executor", "spark", "must be one of: local, dask"),
])
def test_new_keys_are_validated(project, field, value, message):
    project.notebook("a.ipynb", "x = 1")
    if field == "retries":
        project.spec(f"notebooks:\n  a: {{path: a.ipynb, retries: {value}}}\n")
    else:
        project.spec(f"{field}: {value}\nnotebooks:\n  a: {{path: a.ipynb}}\n")
    proc = project.cli("validate")
    assert proc.returncode == 2
    assert message in proc.stderr and field in proc.stderr
