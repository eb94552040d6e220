"""Ctrl-C, SIGTERM, kill -9 and a second run on the same folder, with real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import PID_CELL, alive, pids

pytestmark = pytest.mark.slow  # every test here runs real kernels

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


def start(project, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nbgraph", "run", "--jobs", "2", *args], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


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
        first = follower.stdout.readline()  # it follows the running variant before the run is stopped

    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not any(alive(p) for p in kernels)
    assert not partials(project.root / "build")
    assert not list((project.root / "build/child").rglob("record.json"))  # nothing recorded for cut-short runs
    if signum == signal.SIGINT:
        followed = first + follower.stdout.read()  # ends when the run ends
        assert follower.wait(timeout=30) == 0
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
    assert "2 succeeded, 0 failed, 0 skipped, 1 up to date" in again.stdout, again.stdout  # base kept, children re-run
    assert not partials(project.root / "build")
    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    assert {r["status"] for r in rows.values()} == {"succeeded"}
    records = [json.loads(p.read_text()) for p in (project.root / "build").rglob("record.json")]
    assert len(records) == 3


def connection_files(folder: Path) -> list[Path]:
    """Kernel connection files (ports and the kernel's message key) anywhere under ``folder``."""
    found = []
    for path in folder.rglob("*.json"):
        try:
            if "signature_scheme" in json.loads(path.read_text()):
                found.append(path)
        except (OSError, ValueError):
            pass
    return found


def test_kill_9_leaves_no_kernel_connection_file_once_the_next_run_is_done(project):
    slow_project(project)
    tmp = Path(tempfile.mkdtemp(prefix="k9-"))  # short: a Unix socket's path fits in 107 bytes
    env = {**os.environ, "TMPDIR": str(tmp)}
    others = tmp / f"nbgraph-{os.getuid()}" / "kernel-999999999-0123abcd-elsewhere.json"  # another machine's: kept
    others.parent.mkdir(mode=0o700)
    others.write_text('{"signature_scheme": "hmac-sha256"}')
    proc = start(project, env=env)
    kernels = wait_for_pids(project, 2, proc)
    assert len(connection_files(tmp)) == 3  # the two running kernels' (base's was removed when it ended)
    sockets = tmp / f"nbgraph-{os.getuid()}"
    assert len(list(sockets.glob("*.ipc-*"))) == 2 * 5  # IPC, not TCP: 5 Unix sockets per running kernel
    proc.kill()
    proc.communicate()
    assert wait_dead(kernels)
    assert len(connection_files(tmp)) == 3, "nobody removes a killed run's connection files"

    (project.root / "slow").unlink()
    again = subprocess.run([sys.executable, "-m", "nbgraph", "run"], cwd=project.root, env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert connection_files(tmp) == [others]
    assert not list(sockets.glob("*.ipc-*"))  # the killed kernels' sockets went with their files
    assert oct(others.parent.stat().st_mode & 0o777) == "0o700"
    logs = list((project.root / "build").rglob("*.log"))
    assert logs and not [log for log in logs if "without encryption" in log.read_text()]  # ipykernel's TCP warning
    shutil.rmtree(tmp, ignore_errors=True)


def test_only_connection_files_of_gone_writers_on_this_machine_are_removed(tmp_path):
    from nbgraph.kernels.connection import _host, remove_stale

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        names = {
            f"kernel-{gone.pid}-0123abcd-{_host()}.json": False,  # its writer is gone: removed
            f"kernel-{sleeper.pid}-0123abcd-{_host()}.json": True,  # a live writer's
            f"kernel-{gone.pid}-0123abcd-elsewhere.json": True,  # another machine's (a shared folder)
            f"kernel-{os.getpid()}-0123abcd-{_host()}.json": True,  # this process's
            "kernel-1234.json": True,  # not a name nbgraph gives
            f"kernel-{gone.pid}-0123abcd-{_host()}.ipc-4": False,  # a gone kernel's IPC socket
            f"kernel-{sleeper.pid}-0123abcd-{_host()}.ipc-4": True,  # a live one's
        }
        for name in names:
            if ".ipc-" in name:
                bound = socket.socket(socket.AF_UNIX)
                bound.bind(str(tmp_path / name))  # a real socket file, as zmq leaves one behind
                bound.close()
            else:
                (tmp_path / name).write_text("{}")
        remove_stale(tmp_path)
        assert {name: (tmp_path / name).exists() for name in names} == names
    finally:
        sleeper.kill()
        sleeper.wait()


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
