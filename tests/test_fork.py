"""Fork-server kernels: real zygotes forking real IPython kernels, driven by real papermill runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from conftest import outputs_of, write_notebook, write_spec
from nbgraph import runner
from nbgraph.executors.base import Executor
from nbgraph.kernels.fork.support import fork_blocker, platform_blocker

pytestmark = [pytest.mark.slow,  # every test here runs real kernels
              pytest.mark.skipif(platform_blocker() is not None, reason="forking kernels needs Linux")]

PARENT = [
    """
    import numpy as np
    import matplotlib
    import matplotlib.pyplot as plt
    arr = np.zeros(100_000)  # big enough to be stored out of band and memory-mapped on load
    offset = 10
    def shifted(x):
        return x + offset
    class Box:
        def __init__(self, v):
            self.v = v
        def twice(self):
            return 2 * self.v
    box = Box(21)
    """,
]
CHILD = [
    # 1: inherited state, then isolation: mutate the inherited array, let a sibling run, look again
    """
    import time
    print("start", arr.sum(), shifted(k), box.twice(), type(box).__name__)
    arr += k
    time.sleep(0.4)
    print("after", arr.sum())
    """,
    # 2: subprocess return codes (an inherited SIGCHLD handler would make them 0)
    """
    import subprocess
    print("rc", subprocess.run(["sh", "-c", "exit 3"]).returncode, subprocess.call(["false"]))
    """,
    # 3: an inline plot
    """
    plt.plot([0, k])
    plt.show()
    """,
    # 4: random draws after the (re)seeding of a fresh-looking kernel
    """
    import random
    print(np.random.random(), random.random())
    """,
    # 5: how this kernel was started (excluded from the comparison)
    """
    import sys, os
    print("forked", "nbgraph.kernels.fork.child" in sys.modules, os.getpid())
    """,
]
# code-cell indexes in the executed notebook: the inherit cell, parameters, papermill's injected parameters, CHILD
START, RC, PLOT, RANDOM_CELL, HOW_CELL = 3, 4, 5, 6, 7


def _graph(root: Path, n: int = 3) -> Path:
    write_notebook(root / "parent.ipynb", *(textwrap.dedent(c) for c in PARENT))
    write_notebook(root / "child.ipynb", *(textwrap.dedent(c) for c in CHILD), parameters="k = 0")
    return write_spec(root, f"""
        notebooks:
          parent:
            path: parent.ipynb
          child:
            path: child.ipynb
            parent: parent
            snapshot: false
            grid: {{k: {list(range(1, n + 1))}}}
        """)


def _zombie_children() -> list[int]:
    zombies = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields["State"].startswith("Z") and int(fields["PPid"]) == os.getpid():
            zombies.append(int(entry))
    return zombies


def _children(root: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in sorted((root / "build" / "child").glob("*/child.ipynb"))}


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory):
    """The same graph run with forked kernels, then with fresh ones: {mode: {variant: outputs}}."""
    root = tmp_path_factory.mktemp("forkgraph")
    spec = _graph(root)
    results, notebooks = {}, {}
    for mode, fork in (("forked", True), ("fresh", False)):
        result = runner.run(spec, force=True, jobs=2, fork=fork)
        assert result.ok, result.records
        results[mode] = {name: outputs_of(path) for name, path in _children(root).items()}
        notebooks[mode] = {name: nbformat.read(path, as_version=4) for name, path in _children(root).items()}
        assert not _zombie_children(), mode  # zygotes were reaped, their kernels by them
    return results, notebooks


def test_children_fork_and_match_fresh_kernels(both_ways):
    outputs, _ = both_ways
    assert set(outputs["forked"]) == {"k=1", "k=2", "k=3"}
    for mode, flag in (("forked", "True"), ("fresh", "False")):
        for variant, cells in outputs[mode].items():
            assert cells[HOW_CELL].split()[:2] == ["forked", flag], (mode, variant)
            assert cells[0] == "nbgraph: inherited 8 variables from parent\n"  # the injected cell reports
    for variant in outputs["fresh"]:
        same = [c for i, c in enumerate(outputs["forked"][variant]) if i not in (RANDOM_CELL, HOW_CELL)]
        assert same == [c for i, c in enumerate(outputs["fresh"][variant]) if i not in (RANDOM_CELL, HOW_CELL)]


def test_children_are_isolated_from_siblings_and_zygote(both_ways):
    outputs, _ = both_ways
    for variant, cells in outputs["forked"].items():
        k = int(variant.split("=")[1])
        # every child (k=3 forked after k=1 and k=2 mutated theirs) starts from the zygote's zeros,
        # and a sibling mutating its copy at the same time never shows through
        assert cells[START] == f"start 0.0 {10 + k} 42 Box\nafter {100_000.0 * k}\n"


def test_subprocess_return_codes(both_ways):
    outputs, _ = both_ways
    assert {cells[RC] for cells in outputs["forked"].values()} == {"rc 3 1\n"}


def test_random_generators_are_reseeded_per_child(both_ways):
    outputs, _ = both_ways
    for mode in ("forked", "fresh"):
        draws = [cells[RANDOM_CELL].split() for cells in outputs[mode].values()]
        numpy_draws, random_draws = {d[0] for d in draws}, {d[1] for d in draws}
        assert len(numpy_draws) == len(random_draws) == len(draws), (mode, draws)


def test_inline_plot_is_an_image(both_ways):
    _, notebooks = both_ways
    for nb in notebooks["forked"].values():
        plot_cell = [c for c in nb.cells if c.cell_type == "code"][PLOT]
        assert any("image/png" in o.get("data", {}) for o in plot_cell.outputs), plot_cell.outputs


# -- fallbacks ---------------------------------------------------------------------------

def _small_graph(root: Path, extra_top: str = "", kernel: str | None = None, parent_cells=("x = 41",)) -> Path:
    write_notebook(root / "parent.ipynb", *parent_cells)
    write_notebook(root / "child.ipynb", "import sys\nprint(x + 1, 'nbgraph.kernels.fork.child' in sys.modules)")
    kernel_line = f"    kernel: {kernel}\n" if kernel else ""
    return write_spec(root, f"{extra_top}\nnotebooks:\n  parent:\n    path: parent.ipynb\n  child:\n"
                            f"    path: child.ipynb\n    parent: parent\n{kernel_line}")


def _child_says(root: Path) -> str:
    return outputs_of(root / "build" / "child" / "default" / "child.ipynb")[1]


def test_fork_false_in_the_yaml_and_no_fork_flag_start_fresh_kernels(tmp_path, capfd):
    from click.testing import CliRunner

    from nbgraph.cli import main

    spec = _small_graph(tmp_path, "fork: false")
    assert runner.run(spec).ok
    assert _child_says(tmp_path) == "42 False\n"
    spec = _small_graph(tmp_path)
    result = CliRunner().invoke(main, ["run", str(spec), "--force", "--no-fork"])
    assert result.exit_code == 0, result.output
    assert _child_says(tmp_path) == "42 False\n"
    assert "not forking" not in capfd.readouterr().err  # asked for: nothing to explain
    assert runner.run(spec, force=True).ok  # and by default it forks
    assert _child_says(tmp_path) == "42 True\n"


def test_forked_kernel_output_goes_to_the_variant_log(tmp_path):
    write_notebook(tmp_path / "parent.ipynb", "x = 41")
    write_notebook(tmp_path / "child.ipynb", textwrap.dedent("""
        import os, sys
        def target(fd):
            try:
                return os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                return ""
        # the process's own stdout/stderr (ipykernel keeps copies while it captures fds 1 and 2)
        print(any(target(fd).endswith("child.log") for fd in os.listdir("/proc/self/fd")),
              'nbgraph.kernels.fork.child' in sys.modules)
        """).strip())
    spec = write_spec(tmp_path, "notebooks:\n  parent: parent.ipynb\n  child:\n    path: child.ipynb\n    parent: parent\n")
    assert runner.run(spec).ok
    assert _child_says(tmp_path) == "True True\n"


def test_a_retried_child_keeps_the_zygote_for_its_siblings(tmp_path):
    write_notebook(tmp_path / "parent.ipynb", "x = 41")
    write_notebook(tmp_path / "child.ipynb", "import sys\nassert k != 1, 'flaky'\n"
                   "print(x + k, 'nbgraph.kernels.fork.child' in sys.modules)", parameters="k = 0")
    spec = write_spec(tmp_path, """
        notebooks:
          parent: parent.ipynb
          child: {path: child.ipynb, parent: parent, grid: {k: [1, 2, 3]}, retries: 1, snapshot: false}
        """)
    result = runner.run(spec, jobs=1)  # k=1 fails twice before its siblings start
    assert result.outcome["child[k=1]"] == "failed" and result.records["child[k=1]"].attempts == 2
    for k in (2, 3):  # counted as one finished child, not two: the zygote was not drained early
        # the last cell is nbgraph's own (it writes down what the cells used: snapshot: false has no snapshot cell)
        assert outputs_of(tmp_path / "build" / "child" / f"k={k}" / "child.ipynb")[-2] == f"{41 + k} True\n"


def test_fork_setting_is_validated(tmp_path):
    from nbgraph.errors import SpecError
    from nbgraph.spec import load_spec

    spec = _small_graph(tmp_path, "fork: sometimes")
    with pytest.raises(SpecError, match=r"inheritance.yaml:1: field 'fork': must be true or false"):
        load_spec(spec)


def test_state_that_starts_threads_falls_back_once(tmp_path, capfd):
    (tmp_path / "threader.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True, name='poller').start()\n")
    spec = _small_graph(tmp_path, parent_cells=("import threader\nx = 41",))
    assert runner.run(spec).ok
    assert _child_says(tmp_path) == "42 False\n"
    err = capfd.readouterr().err
    assert err.count("not forking kernels: the state of parent cannot live in a forked process: "
                     "loading it started threads (poller)") == 1, err


def test_non_python_kernel_falls_back(tmp_path, monkeypatch, capfd):
    kernel_dir = tmp_path / "jupyter" / "kernels" / "otherlang"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Other", "language": "otherlang"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    assert fork_blocker(tmp_path / "x.ipynb", "otherlang") == "kernel 'otherlang' runs otherlang; only Python kernels fork"
    spec = _small_graph(tmp_path, kernel="otherlang")
    assert runner.run(spec).ok
    assert _child_says(tmp_path) == "42 False\n"
    assert capfd.readouterr().err.count("not forking kernels: kernel 'otherlang' runs otherlang") == 1


def test_the_state_is_loaded_with_the_kernel_specs_environment(tmp_path, monkeypatch):
    kernel_dir = tmp_path / "jupyter" / "kernels" / "pinned"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Pinned", "language": "python", "env": {"NBGRAPH_PROBE": "from the ${NBGRAPH_WHERE}"}}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("NBGRAPH_WHERE", "kernel spec")  # substituted, as jupyter_client does
    write_notebook(tmp_path / "parent.ipynb", textwrap.dedent("""
        import os
        class Probe:  # what loading sees of the environment (thread counts, devices, paths are read so)
            def __init__(self):
                self.made = True
            def __setstate__(self, state):
                self.seen = os.environ.get("NBGRAPH_PROBE")
        probe = Probe()
        """).strip(), kernel="pinned")
    write_notebook(tmp_path / "child.ipynb", "import sys\nprint(probe.seen, '|', 'nbgraph.kernels.fork.child' in sys.modules)",
                   kernel="pinned")
    spec = write_spec(tmp_path, "notebooks:\n  parent: parent.ipynb\n  child:\n    path: child.ipynb\n    parent: parent\n")
    for fork in (False, True):
        assert runner.run(spec, force=True, fork=fork).ok
        assert _child_says(tmp_path) == f"from the kernel spec | {fork}\n"


def test_inherited_values_win_over_ipython_startup_files_as_in_a_fresh_kernel(tmp_path, monkeypatch):
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-team.py").write_text("x = 'from a startup file'\nteam = 'data'\n")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    write_notebook(tmp_path / "parent.ipynb", "x = 'from the parent'")
    write_notebook(tmp_path / "child.ipynb", "import sys\nprint(x, team, 'nbgraph.kernels.fork.child' in sys.modules)")
    spec = write_spec(tmp_path, "notebooks:\n  parent: parent.ipynb\n  child:\n    path: child.ipynb\n    parent: parent\n")
    for fork in (False, True):  # a fresh kernel runs the startup files first, then the injected cell
        assert runner.run(spec, force=True, fork=fork).ok
        assert _child_says(tmp_path) == f"from the parent data {fork}\n"


def test_other_executors_and_platforms_do_not_fork(tmp_path, capfd):
    from concurrent.futures import ThreadPoolExecutor

    from nbgraph.kernels.run import run_job

    class PoolExecutor(Executor):  # stands for any executor that runs kernels elsewhere
        slots = 2

        def __init__(self):
            self.pool = ThreadPoolExecutor(2)

        def submit(self, job):
            return self.pool.submit(run_job, job)

        def shutdown(self, cancel=False):
            self.pool.shutdown()

    spec = _small_graph(tmp_path)
    with PoolExecutor() as executor:
        assert runner.run(spec, executor=executor).ok
    assert _child_says(tmp_path) == "42 False\n"
    assert "not forking kernels: PoolExecutor runs kernels elsewhere" in capfd.readouterr().err
    assert platform_blocker("darwin") == "forking kernels needs Linux (this is darwin)"
    assert fork_blocker(tmp_path / "child.ipynb", None, platform="win32") == "forking kernels needs Linux (this is win32)"


def test_a_zygote_gone_before_the_fork_means_a_fresh_kernel(tmp_path):
    from nbgraph.kernels.fork.manager import ForkManager, job_group
    from nbgraph.kernels.run import Job, run_job

    write_notebook(tmp_path / "child.ipynb", "import sys\nprint(x + 1, 'nbgraph.kernels.fork.child' in sys.modules)")
    job = Job(variant="child", node="child", notebook=str(tmp_path / "child.ipynb"), output=str(tmp_path / "out.ipynb"),
              cwd=str(tmp_path), inherit=(("parent", _snapshot(tmp_path)),))
    outcome = run_job(dataclasses.replace(job, fork_from=str(tmp_path / "no-zygote.sock")))
    assert not outcome.ok and outcome.error.startswith("ForkError: cannot reach the zygote"), outcome.error
    said = []
    manager = ForkManager({job_group(job): 1}, spare=False, say=said.append)
    try:
        stale = lambda j: run_job(dataclasses.replace(j, fork_from=j.fork_from and str(tmp_path / "gone.sock")))
        outcome = manager.run(job, stale)  # the zygote loaded, but the fork request fails: run it fresh
    finally:
        manager.close()
    assert outcome.ok, outcome.error
    assert outputs_of(tmp_path / "out.ipynb")[1] == "42 False\n"
    assert len(said) == 1 and said[0].startswith("child: ForkError: cannot reach the zygote"), said


# -- lifecycle: interrupt, kill, dying zygote, dying nbgraph -------------------------------

def _snapshot(tmp_path: Path) -> str:
    from nbgraph.snapshot.format import dump_namespace

    dump_namespace({"x": 41}, tmp_path / "snap")
    return str(tmp_path / "snap")


def _eventually(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """The process has exited and nobody of ours leaves it a zombie (init reaps its own at its pace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if ":\t" in line)
        except (FileNotFoundError, ProcessLookupError):  # ESRCH: it went while its file was read
            return True
        if status["State"].startswith("Z") and status["PPid"].strip() == "1":
            return True
        time.sleep(0.05)
    return False


def _descriptors(pid: int, kind: str) -> set[str]:
    links = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return {link for link in links if link.startswith(kind)}


async def _start(address: str):
    from nbgraph.kernels.fork.provisioner import ForkKernelManager

    km = ForkKernelManager(kernel_name="python3", zygote=address)
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=30)
    return km, kc


async def _run(kc, code: str, timeout: float = 20) -> dict:
    reply = await kc.execute_interactive(code, timeout=timeout, output_hook=lambda msg: None)
    return reply["content"]


def test_interrupt_and_kill_one_child(tmp_path):
    from nbgraph.kernels.fork.manager import Zygote

    zygote = Zygote()
    try:
        assert zygote.load([("p", _snapshot(tmp_path))], str(tmp_path))["ok"]

        async def scenario():
            (km1, kc1), (km2, kc2) = await _start(zygote.address), await _start(zygote.address)
            pid1, pid2 = km1.provisioner.pid, km2.provisioner.pid
            assert os.getpgid(pid1) == pid1  # its own process group: signals reach only it
            # none of the zygote's sockets (control, listener, the sibling's connection) nor its pidfds
            assert not _descriptors(zygote.pid, "socket:") & _descriptors(pid2, "socket:")
            assert not _descriptors(pid2, "anon_inode:[pidfd]")
            msg_id = kc1.execute("import time; time.sleep(30)", stop_on_error=False)  # run what follows
            await asyncio.sleep(0.5)
            await km1.interrupt_kernel()
            reply = await kc1._async_get_shell_msg(timeout=10)
            assert reply["parent_header"]["msg_id"] == msg_id
            assert reply["content"]["ename"] == "KeyboardInterrupt"
            assert (await _run(kc1, "x += 1"))["status"] == "ok"
            await km1.signal_kernel(signal.SIGKILL)
            assert _gone(pid1)  # dead and reaped by the zygote (no zombie)
            assert not await km1.is_alive()
            assert await km1.provisioner.poll() == -signal.SIGKILL  # as the zygote reported it
            assert (await _run(kc2, "assert x == 41"))["status"] == "ok"  # the sibling: untouched
            for km, kc in ((km1, kc1), (km2, kc2)):
                kc.stop_channels()
                await km.shutdown_kernel()
            assert await km2.provisioner.poll() == 0
        asyncio.run(scenario())
    finally:
        zygote.close()
    assert _gone(zygote.pid)


def test_killing_the_zygote_ends_its_kernels(tmp_path):
    from nbgraph.kernels.fork.manager import Zygote

    zygote = Zygote()
    try:
        assert zygote.load([("p", _snapshot(tmp_path))], str(tmp_path))["ok"]

        async def scenario():
            started = [await _start(zygote.address) for _ in range(2)]
            pids = [km.provisioner.pid for km, _ in started]
            os.kill(zygote.pid, signal.SIGKILL)
            assert all(_gone(pid) for pid in pids)
            for km, kc in started:
                assert not await km.is_alive()
                kc.stop_channels()
                await km.shutdown_kernel(now=True)
        asyncio.run(scenario())
    finally:
        zygote.close()


def _zygotes() -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"nbgraph.kernels.fork.zygote" in cmdline:
                found.add(int(entry))
    return found


def test_killing_nbgraph_leaves_no_process(tmp_path):
    import subprocess

    before = _zygotes()
    folders = set(Path(tempfile.gettempdir()).glob("nbgraph-fork-*"))
    marker = tmp_path / "pids.json"
    write_notebook(tmp_path / "parent.ipynb", "x = 41")
    write_notebook(tmp_path / "child.ipynb", textwrap.dedent(f"""
        import json, os, time
        with open({str(marker)!r} + '.tmp', 'w') as fh:
            json.dump([os.getpid(), os.getppid()], fh)
        os.rename({str(marker)!r} + '.tmp', {str(marker)!r})
        time.sleep(120)
        """).strip())
    write_spec(tmp_path, "notebooks:\n  parent: parent.ipynb\n  child:\n    path: child.ipynb\n    parent: parent\n")
    nbgraph = subprocess.Popen([sys.executable, "-m", "nbgraph", "run"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert nbgraph.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        kernel, zygote = json.loads(marker.read_text())
        assert zygote in _zygotes()  # the child really was forked
        nbgraph.kill()
        nbgraph.wait()
        assert _gone(kernel) and _gone(zygote)
        assert _eventually(lambda: _zygotes() <= before)  # the spare zygote too
        assert _eventually(lambda: set(Path(tempfile.gettempdir()).glob("nbgraph-fork-*")) <= folders)
    finally:
        if nbgraph.poll() is None:
            nbgraph.kill()


def test_provisioner_is_registered_as_an_entry_point():
    import tomllib
    from importlib.metadata import EntryPoint

    from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

    from nbgraph.kernels.fork.provisioner import ENTRY_POINT, PROVISIONER_NAME

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"]["jupyter_client.kernel_provisioners"]
    assert declared == {PROVISIONER_NAME: ENTRY_POINT}
    cls = EntryPoint(PROVISIONER_NAME, ENTRY_POINT, "jupyter_client.kernel_provisioners").load()
    assert issubclass(cls, KernelProvisionerBase)


def test_notebooks_without_parents_fork_from_a_zygote_that_loaded_nothing(tmp_path):
    write_notebook(tmp_path / "root.ipynb", "import sys\nprint('nbgraph.kernels.fork.child' in sys.modules, "
                   "sorted(k for k in globals() if not k.startswith('_')))")
    spec = write_spec(tmp_path, "notebooks:\n  root: root.ipynb\n")
    says = {}
    for fork in (True, False):
        assert runner.run(spec, force=True, fork=fork).ok
        says[fork] = outputs_of(tmp_path / "build" / "root" / "default" / "root.ipynb")[1].split(" ", 1)
    assert (says[True][0], says[False][0]) == ("True", "False")
    assert says[True][1] == says[False][1]  # a namespace as a fresh kernel's: nothing of the zygote's


def test_a_mother_zygote_spawns_zygotes_that_load_and_fork(tmp_path):
    from nbgraph.kernels.fork.manager import Zygote, ZygoteError

    mother = Zygote()
    try:
        first, second = mother.spawn(), mother.spawn()
        assert len({mother.pid, first.pid, second.pid}) == 3
        assert first.load([("p", _snapshot(tmp_path))], str(tmp_path))["ok"]

        async def scenario():
            km, kc = await _start(first.address)
            try:
                reply = await kc.execute_interactive("assert x == 41", timeout=20, output_hook=lambda msg: None)
                assert reply["content"]["status"] == "ok"
            finally:
                kc.stop_channels()
                await km.shutdown_kernel(now=True)
        asyncio.run(scenario())
        with pytest.raises(ZygoteError, match="holds a state"):
            first.spawn()  # a zygote that loaded a state is no mother
        pids = (first.pid, second.pid)
        first.close()
        second.close()
        assert all(_gone(pid) for pid in pids)  # reaped by the mother: no zombie left
    finally:
        mother.close()
    assert _gone(mother.pid)


def test_kernels_forked_ahead_are_taken_by_the_next_siblings_and_log_to_them(tmp_path, monkeypatch):
    from nbgraph.kernels.fork import warm

    taken = []
    real_claim = warm.claim
    monkeypatch.setattr(warm, "claim", lambda job: taken.append(real_claim(job)) or taken[-1])
    write_notebook(tmp_path / "parent.ipynb", "x = 41")
    write_notebook(tmp_path / "child.ipynb", "import os\nos.write(1, f'fd output of {k}\\n'.encode())",
                   parameters="k = 0")
    spec = write_spec(tmp_path, """
        notebooks:
          parent: parent.ipynb
          child: {path: child.ipynb, parent: parent, grid: {k: [1, 2, 3, 4]}}
        """)
    before = _zygotes()
    assert runner.run(spec, jobs=1).ok
    assert sum(w is not None for w in taken) >= 2  # the first sibling forks its own; later ones find theirs
    for k in (1, 2, 3, 4):  # an adopted kernel's own output lands in its variant's log, and only there
        log = (tmp_path / "build" / "child" / f"k={k}" / "child.log").read_text()
        assert [line for line in log.splitlines() if line.startswith("fd output")] == [f"fd output of {k}"]
    assert not list((tmp_path / "build").rglob(".warm-*"))
    assert _eventually(lambda: _zygotes() <= before)


def test_a_mother_takes_on_what_a_groups_load_imported_so_the_next_groups_load_fast(tmp_path):
    import xml.dom.minidom

    from nbgraph.kernels.fork.manager import Zygote
    from nbgraph.snapshot.format import dump_namespace

    dump_namespace({"doc": xml.dom.minidom.Document()}, tmp_path / "snap")  # loading it imports xml.dom
    mother = Zygote()
    try:
        first = mother.spawn()
        reply = first.load([("p", str(tmp_path / "snap"))], str(tmp_path))
        assert reply["ok"] and "xml.dom.minidom" in reply["imported"]
        mother.learn(reply["imported"])
        second = mother.spawn()
        reply = second.load([("p", str(tmp_path / "snap"))], str(tmp_path))
        assert reply["ok"] and not [m for m in reply["imported"] if m.startswith("xml.")]  # it had them already
        first.close()
        second.close()
    finally:
        mother.close()


def test_a_mother_imports_what_the_parents_previous_snapshots_name_while_they_run_again(tmp_path, monkeypatch):
    from nbgraph.kernels.fork import manager

    learned, replies = [], []
    real_learn, real_load = manager.Zygote.learn, manager.Zygote.load
    monkeypatch.setattr(manager.Zygote, "learn", lambda self, modules, **kw: learned.append(list(modules))
                        or real_learn(self, modules, **kw))
    monkeypatch.setattr(manager.Zygote, "load", lambda self, *a, **kw: replies.append(real_load(self, *a, **kw))
                        or replies[-1])
    write_notebook(tmp_path / "parent.ipynb", "import xml.dom.minidom\ndoc = xml.dom.minidom.Document()")
    write_notebook(tmp_path / "child.ipynb", "print(type(doc).__name__)", parameters="k = 0")
    spec = write_spec(tmp_path, """
        notebooks:
          parent: parent.ipynb
          child: {path: child.ipynb, parent: parent, grid: {k: [1, 2]}}
        """)
    assert runner.run(spec).ok
    assert any("xml.dom.minidom" in r.get("imported", []) for r in replies)  # the child group's load imported it
    learned.clear()
    replies.clear()
    result = runner.run(spec, force=True)
    assert result.ok
    assert "xml.dom.minidom" in learned[0]  # named by the parent's snapshot of the first run, learned first
    group_loads = [r for r in replies if r.get("ok")]
    assert group_loads and not [m for r in group_loads for m in r.get("imported", []) if m.startswith("xml.")]
    assert "Document" in (tmp_path / "build" / "child" / "k=1" / "child.ipynb").read_text()
