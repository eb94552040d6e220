"""Whether a process still runs: one answer for the connection files, the scratch folders and the servers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nbgraph import procs
from nbgraph.procs import pid_alive


def test_this_process_is_alive_and_nonsense_pids_are_not():
    assert pid_alive(os.getpid()) and pid_alive(os.getpid(), mine=True)
    assert not any(pid_alive(p) for p in (0, -1, True, "1", None, 1.0))


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs os.waitid to wait without reaping")
def test_an_exited_child_is_gone_before_and_after_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid)


@pytest.mark.parametrize("proc_fs", [True, False], ids=["linux", "no /proc"])
def test_another_users_process_exists_but_is_not_mine(monkeypatch, proc_fs):
    def refuse(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(procs.os, "kill", refuse)
    if not proc_fs:
        def no_proc(path, *args, **kwargs):
            raise FileNotFoundError(path)

        monkeypatch.setattr(procs, "open", no_proc, raising=False)
        monkeypatch.setattr(procs.os.path, "exists", lambda path: False)
    elif not os.path.exists("/proc/self/stat"):
        pytest.skip("no /proc here")
    assert pid_alive(os.getpid())
    assert not pid_alive(os.getpid(), mine=True)
