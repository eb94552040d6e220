"""Ctrl-C, SIGTERM, kill -9 and a second run on the same folder, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_faults import PID_CELL, alive, pids

SLOW_CELL = "import os, time\nif os.path.exists('slow'):\n    time.sleep(120)"


def slow_project(project) -> None:
    """base -> 2 children that record their kernel's pid, then sleep while ./slow exists."""
    project.notebook("base.ipynb", "x = 1")
    project.notebook("child.ipynb", PID_CELL, "print('child started', k, flush=True)", SLOW_CELL, "print('child done')",
                     parameters="k = 0")
    project.spec("""
        notebooks:
          base: {path: base.ipynb}
          child: {path: child.ipynb, parent: base, grid: {k: [1, 2]}}
    """)
    (project.root / "slow").write_text("")


def start(project, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nbgraph", "run", "--jobs", "2", *args], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_pids(project, n: int, proc: subprocess.Popen, timeout: float = 90) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(pids(project)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "kernels did not start"
        time.sleep(0.1)
    time.sleep(0.5)  # let the cells reach the sleep
    return pids(project)


def partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") and ".partial" in p.name]


def wait_dead(pid_list: list[int], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pid_list):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_kills_every_kernel_and_exits_130(project, signum):
    slow_project(project)
    proc = start(project)
    kernels = wait_for_pids(project, 2, proc)

    if signum == signal.SIGINT:  # while it runs: a second run is refused, logs can be followed
        second = project.cli("run", timeout=60)
        assert second.returncode == 2
        assert "is in use by another nbgraph run (pid" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        cleaner = project.cli("clean", "--all", timeout=60)
        assert cleaner.returncode == 2 and "in use by another nbgraph run" in cleaner.stderr
        follower = subprocess.Popen([sys.executable, "-m", "nbgraph", "logs", "child[k=1]", "--follow"],
                                    cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not any(alive(p) for p in kernels)
    assert not partials(project.root / "build")
    assert not list((project.root / "build/child").rglob("record.json"))  # nothing recorded for cut-short runs
    if signum == signal.SIGINT:
        followed, _ = follower.communicate(timeout=30)  # ends when the run ends
        assert "child started 1" in followed


def test_kill_9_then_the_next_run_completes_what_is_left(project):
    slow_project(project)
    proc = start(project)
    kernels = wait_for_pids(project, 2, proc)
    proc.kill()
    proc.communicate()
    assert wait_dead(kernels), "orphaned kernels should exit when nbgraph dies"
    assert partials(project.root / "build"), "a killed run leaves its temporary files"

    (project.root / "slow").unlink()
    again = project.cli("run")
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout or "0 failed" in again.stdout
    assert not partials(project.root / "build")
    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    assert {r["status"] for r in rows.values()} == {"succeeded"}
    records = [json.loads(p.read_text()) for p in (project.root / "build").rglob("record.json")]
    assert len(records) == 3


def test_an_interrupted_rerun_leaves_each_variant_its_last_finished_log(project):
    """Issue 10, item 13: after Ctrl-C, a succeeded variant's log ended 'kernel died ... out of memory?'."""
    slow_project(project)
    (project.root / "slow").unlink()
    assert project.cli("run").returncode == 0
    logs = {k: project.root / f"build/child/k={k}/child.log" for k in (1, 2)}
    finished = {k: log.read_text() for k, log in logs.items()}
    assert "child done" in finished[1]
    (project.root / "pids.txt").unlink()
    (project.root / "slow").write_text("")
    proc = start(project, "--force")
    wait_for_pids(project, 2, proc)
    shown = project.cli("logs", "child[k=1]", timeout=60)  # while it runs: what the running one wrote
    assert shown.returncode == 0 and "child started 1" in shown.stdout and "child done" not in shown.stdout
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert {k: log.read_text() for k, log in logs.items()} == finished
    assert project.cli("logs", "child[k=1]").stdout == finished[1]
    assert not partials(project.root / "build")
    assert {r["status"] for r in json.loads(project.cli("status", "--json").stdout)} == {"succeeded"}
