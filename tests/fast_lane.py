"""The fast lane: ``pytest -m "not slow"`` runs the tests that start no kernel.

A test that starts a kernel, a zygote, a Jupyter server or a Dask worker process must be
marked ``slow`` (``@pytest.mark.slow``, or ``pytestmark`` for a whole module).  This plugin
makes sure none lands in the fast lane unnoticed, whichever lane runs: a test not marked
slow that starts one fails, in this process (jupyter_client's kernel managers refuse to
start) or in an ``nbgraph`` subprocess (its kernels' connection folder appears in the
temporary folder it is given).  A guard, not a mock: a slow test starts everything for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import AsyncKernelManager, KernelManager

#: what a command line starts that only slow tests may start
SLOW_COMMANDS = ("ipykernel_launcher", "jupyter_server", "jupyterlab", "nbgraph.kernels.fork.zygote",
                 "distributed.cli")


class _Lane:
    test: str | None = None  # the running test, while it is in the fast lane
    tmp: Path | None = None  # TMPDIR of its nbgraph subprocesses
    started: list[str] = []


def _refuse(what: str) -> None:
    if _Lane.test is not None:
        _Lane.started.append(what)
        raise RuntimeError(f"{_Lane.test} {what} but is not marked slow: mark it with @pytest.mark.slow")


def _guarded_start(original: Any) -> Any:
    def start_kernel(self, *args: Any, **kwargs: Any) -> Any:
        _refuse("starts a kernel")
        return original(self, *args, **kwargs)

    return start_kernel


def _guarded_async_start(original: Any) -> Any:
    async def start_kernel(self, *args: Any, **kwargs: Any) -> Any:
        _refuse("starts a kernel")
        return await original(self, *args, **kwargs)

    return start_kernel


_popen_init = subprocess.Popen.__init__


def _started_by(args: Any) -> str:
    """The command line without the text of a ``-c`` program: what it starts, not what it mentions."""
    words = [str(a) for a in args] if isinstance(args, (list, tuple)) else str(args).split()
    if "-c" in words:
        at = words.index("-c")
        words = words[:at] + words[at + 2:]
    return " ".join(words)


def _guarded_popen(self, args: Any, *rest: Any, **kwargs: Any) -> None:
    if _Lane.test is not None:
        line = _started_by(args)
        found = next((c for c in SLOW_COMMANDS if c in line), None)
        if found:
            _refuse(f"starts {found}")
        if "nbgraph" in line and _Lane.tmp is not None:  # its kernels would write their connection folder here
            kwargs["env"] = {**(kwargs.get("env") or os.environ), "TMPDIR": str(_Lane.tmp)}
    _popen_init(self, args, *rest, **kwargs)


KernelManager.start_kernel = _guarded_start(KernelManager.start_kernel)
AsyncKernelManager.start_kernel = _guarded_async_start(AsyncKernelManager.start_kernel)
subprocess.Popen.__init__ = _guarded_popen  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test (a module's server starts in its first test's setup)."""
    if item.get_closest_marker("slow") is None:
        _Lane.test, _Lane.tmp, _Lane.started = item.nodeid, Path(tempfile.mkdtemp(prefix="fast-lane-")), []


@pytest.fixture(autouse=True)
def _fast_lane_check() -> Any:
    yield
    test, tmp = _Lane.test, _Lane.tmp
    _Lane.test = _Lane.tmp = None
    if tmp is None:
        return
    if (tmp / f"nbgraph-{os.getuid()}").exists():
        _Lane.started.append("runs nbgraph with kernels in a subprocess")
    shutil.rmtree(tmp, ignore_errors=True)
    if _Lane.started:
        pytest.fail(f"{test} {'; '.join(dict.fromkeys(_Lane.started))} but is not marked slow: "
                    "mark it with @pytest.mark.slow (pytestmark for a whole module)", pytrace=False)
