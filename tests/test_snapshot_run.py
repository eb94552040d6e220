"""Snapshots through a real ``nbgraph run``: real kernels, papermill, CLI and build folder."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from conftest import chunk_files, flip_byte, outputs_of

from nbgraph.errors import SpecError
from nbgraph.snapshot.format import load_snapshot
from nbgraph.spec import load_spec

PARENT = [
    """
    import asyncio, socket, sqlite3, sys, threading
    import numpy as np
    from tqdm import tqdm
    rate = 2
    def scaled(x):
        return np.asarray(x) * rate
    class Box:
        def __init__(self, v):
            self.v = v
    big = np.arange(100_000.0)
    alias = big
    box = Box(big)
    """,
    """
    gen = (i for i in range(3))
    async def work():
        return 1
    coro = work()
    lock = threading.Lock()
    thread = threading.Thread(target=print)
    sock = socket.socket()
    db = sqlite3.connect(":memory:")
    log = open("log.txt", "w")
    log.write("written by the parent\\n")
    log.flush()
    shell = get_ipython()
    out = sys.stdout
    bar = tqdm(total=3)
    """,
]
KINDS = {"gen": "generator", "coro": "coroutine", "lock": "lock", "thread": "thread", "sock": "socket",
         "db": "database connection", "log": "open file", "shell": "parent's kernel (ipykernel)", "out": "parent's kernel (ipykernel)", "bar": "progress bar"}

CHILD = [
    f"""
    left_out = [n for n in {sorted(KINDS)!r} if n in globals()]
    assert not left_out, left_out
    assert scaled(3) == 6
    rate = 10                       # the child redefines a global the parent's function reads
    assert scaled(3) == 30
    assert alias is big and box.v is big and isinstance(box, Box)
    big[0] = -1                     # a private copy of that page; the snapshot is unchanged
    print("child ok")
    """,
]


@pytest.mark.slow
def test_unpicklable_kinds_are_skipped_and_reported_everywhere(project):
    project.notebook("parent.ipynb", *PARENT)
    project.notebook("child.ipynb", *CHILD)
    project.spec("""
        notebooks:
          parent: {path: parent.ipynb}
          child: {path: child.ipynb, parent: parent, rebuild: false}   # what is skipped, as it is skipped
    """)
    run = project.cli("run")
    assert run.returncode == 0, run.stdout + run.stderr
    for name, words in KINDS.items():  # the run summary
        line = next(line for line in run.stdout.splitlines() if line.startswith(f"not passed down by parent: {name} ("))
        assert words in line, line
    assert (project.root / "log.txt").read_text() == "written by the parent\n"  # never re-opened

    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    skipped = {s["name"]: s for s in rows["parent"]["skipped"]}
    assert set(skipped) == set(KINDS)
    assert skipped["gen"]["type"] == "generator" and skipped["db"]["type"] == "sqlite3.Connection"
    assert all(s["reason"] for s in skipped.values())

    parent_out = outputs_of(project.root / "build/parent/default/parent.ipynb")[-1]
    child_out = outputs_of(project.root / "build/child/default/child.ipynb")
    assert parent_out.startswith("nbgraph: saved ") and "  not saved: lock (_thread.lock): " in parent_out
    assert child_out[0].startswith("nbgraph: inherited ") and "  not inherited: sock (socket.socket): " in child_out[0]
    assert "child ok" in child_out[1]
    injected = nbformat.read(project.root / "build/child/default/child.ipynb", as_version=4).cells[0].source
    assert "verified=True" in injected  # the runner read every byte; the child maps, it does not re-read

    # the child wrote into the inherited array: its private copy, not the snapshot
    snapshot = next((project.root / "build/parent/default").glob("snapshot-*"))
    assert load_snapshot(snapshot)["big"][0] == 0

    # the runner checks every byte of a parent's snapshot before a child loads it
    chunk = chunk_files(snapshot)[0]
    flip_byte(chunk, 5000)
    again = project.cli("run", "--only", "child", "--force")
    assert again.returncode == 1
    assert (f"the snapshot of parent parent cannot be used ({snapshot}: chunk {chunk.name[:16]} ({chunk}) "
            "does not match its name (altered or damaged)); re-run it: nbgraph run --force --only parent") in again.stdout
    assert project.cli("run", "--only", "parent", "--force").returncode == 0  # the remedy works: the chunk is written anew
    assert chunk.is_file() and project.cli("run", "--only", "child").returncode == 0


@pytest.mark.slow
def test_strict_per_node_and_per_run(project):
    """strict fails on what can be neither copied nor rebuilt: a file open for appending."""
    cells = ["kept = 1\nlog = open('log.txt', 'a')"]
    project.notebook("strict.ipynb", *cells)
    project.notebook("loose.ipynb", *cells)
    project.notebook("kid.ipynb", "assert kept == 1 and 'log' not in globals()")
    project.spec("""
        notebooks:
          strict: {path: strict.ipynb, strict: true}
          loose: {path: loose.ipynb}
          kid: {path: kid.ipynb, parent: loose}
    """)
    run = project.cli("run", "--jobs", "2")
    assert run.returncode == 1
    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    assert rows["strict"]["status"] == "failed" and rows["loose"]["status"] == "succeeded"
    assert rows["kid"]["status"] == "succeeded"
    assert "strict mode: cannot snapshot or rebuild log" in rows["strict"]["error"]

    again = project.cli("run", "--only", "loose", "--force", "--strict")
    assert again.returncode == 1
    assert "strict mode: cannot snapshot or rebuild log" in again.stdout


@pytest.mark.slow
def test_mixin_parents_report_only_names_whose_values_differ(project):
    project.notebook("base.ipynb", "import numpy as np\nshared = np.arange(200_000.0)\nconfig = {'k': [1, 2]}")
    project.notebook("left.ipynb", "mine = 'left'\nleft_only = 1")
    project.notebook("right.ipynb", "mine = 'right'\nconfig = {'k': [1, 2]}")  # same value, rebound
    project.notebook("both.ipynb", "print(mine, config)")
    project.spec("""
        notebooks:
          base: {path: base.ipynb}
          left: {path: left.ipynb, parent: base}
          right: {path: right.ipynb, parent: base}
          both: {path: both.ipynb, parents: [left, right]}
    """)
    run = project.cli("run", "--jobs", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    record = json.loads((project.root / "build/both/default/record.json").read_text())
    assert record["collisions"] == ["mine"]
    note = outputs_of(project.root / "build/both/default/both.ipynb")[0]
    assert "set to different values by several parents, later wins: mine (from right)" in note
    assert "shared" not in note.split("later wins")[1]


def test_strict_key_is_validated(project):
    project.notebook("a.ipynb", "x = 1")
    assert load_spec(project.spec("notebooks:\n  a: {path: a.ipynb, strict: true}\n")).nodes["a"].strict
    assert not load_spec(project.spec("notebooks:\n  a: {path: a.ipynb}\n")).nodes["a"].strict
    with pytest.raises(SpecError, match=r"inheritance.yaml:3: node 'a', field 'strict': must be true or false"):
        load_spec(project.spec("notebooks:\n  a:\n    strict: 1\n    path: a.ipynb\n"))


@pytest.mark.slow
def test_a_relative_key_file_names_the_same_key_in_kernels_run_elsewhere(project, monkeypatch):
    import os
    import subprocess
    import sys

    project.notebook("nbs/parent.ipynb", "x = 41")
    project.notebook("nbs/child.ipynb", "print(x + 1)")
    project.spec("""
        notebooks:
          parent: {path: nbs/parent.ipynb}
          child: {path: nbs/child.ipynb, parent: parent}
    """)
    env = {**os.environ, "NBGRAPH_KEY_FILE": "keys/snapshot.key"}  # relative to where nbgraph runs
    proc = subprocess.run([sys.executable, "-m", "nbgraph", "run"], cwd=project.root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs_of(project.root / "build" / "child" / "default" / "child.ipynb")[1] == "42\n"
    assert [p.relative_to(project.root) for p in project.root.rglob("*.key")] == [Path("keys/snapshot.key")]


@pytest.mark.slow
def test_a_private_umask_keeps_every_output_private(project):
    import os
    import stat
    import subprocess
    import sys

    project.notebook("parent.ipynb", "import nbgraph\nx = 41\nnbgraph.record('x', x)")
    project.notebook("child.ipynb", "print(x + 1)")
    project.spec("""
        notebooks:
          parent: {path: parent.ipynb}
          child: {path: child.ipynb, parent: parent}
    """)
    proc = subprocess.run([sys.executable, "-m", "nbgraph", "run"], cwd=project.root, capture_output=True, text=True,
                          timeout=300, preexec_fn=lambda: os.umask(0o077))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = [p for p in (project.root / "build").rglob("*")]
    assert any(p.name == "child.ipynb" for p in written) and any(p.name == "record.json" for p in written)
    loose = {str(p.relative_to(project.root)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in written if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert not loose  # executed notebooks, results and records hold the data too


@pytest.mark.slow
def test_a_snapshot_copied_over_from_a_sibling_variant_is_refused(project):
    """The signed manifest names the variant, key and run it was made for: sound bytes are not enough."""
    import shutil

    project.notebook("a.ipynb", "value = p * 10", parameters="p = 0")
    project.notebook("b.ipynb", "print('child got', value)")
    project.spec("""
        notebooks:
          a: {path: a.ipynb, grid: {p: [1, 2]}}
          b: {path: b.ipynb, parent: a}
    """)
    run = project.cli("run")
    assert run.returncode == 0, run.stdout + run.stderr
    build = project.root / "build"
    (one,), (two,) = (build / "a/p=1").glob("snapshot-*"), (build / "a/p=2").glob("snapshot-*")
    for name in ("manifest.json", "state.pkl"):  # p=2's snapshot, in p=1's place (its chunks are shared)
        shutil.copyfile(two / name, one / name)

    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    assert rows["a[p=1]"]["stale"] and rows["a[p=1]"]["reason"] == "snapshot is missing or invalid"
    assert rows["b[p=1]"]["stale"] and not rows["a[p=2]"]["stale"] and not rows["b[p=2]"]["stale"]

    child = build / "b/p=1/b.ipynb"
    forced = project.cli("run", "--only", "b", "--force")  # a's snapshots reused as they are: refused
    assert forced.returncode == 1, forced.stdout + forced.stderr
    line = next(line for line in forced.stdout.splitlines() if "the snapshot of parent a[p=1] cannot be used" in line)
    assert f"{one}: snapshot was made for variant a[p=2], not a[p=1]" in line, line
    assert line.endswith("re-run it: nbgraph run --force --only a"), line
    assert "child got 20" not in "".join(outputs_of(child))  # never loaded into the child
    assert "child got 20" in "".join(outputs_of(build / "b/p=2/b.ipynb"))
    from nbgraph import inherit_from
    from nbgraph.errors import SnapshotError

    ns: dict = {}
    with pytest.raises(SnapshotError, match=r"made for variant a\[p=2\], not a\[p=1\].*--force"):  # debugging b[p=1]
        inherit_from("b[p=1]", spec=project.root / "inheritance.yaml", into=ns)
    assert "value" not in ns

    again = project.cli("run")  # a[p=1] is stale: it runs again, and so does its child
    assert again.returncode == 0, again.stdout + again.stderr
    assert "child got 10" in "".join(outputs_of(child))
    assert not any(r["stale"] for r in json.loads(project.cli("status", "--json").stdout))


def _run_with_key(project, key, **kw):
    import os
    import subprocess
    import sys

    env = {**os.environ, "NBGRAPH_KEY_FILE": str(key)}
    return subprocess.run([sys.executable, "-m", "nbgraph", "run"], cwd=project.root, env=env, capture_output=True,
                          text=True, timeout=300, **kw)


@pytest.mark.parametrize("kind,problem", [
    ("symlink", "is a symbolic link (to {target}); set NBGRAPH_KEY_FILE={target}"),
    ("short", "holds 10 bytes, a signing key has at least 32; point NBGRAPH_KEY_FILE at your key"),
    ("folder", "is a folder; point NBGRAPH_KEY_FILE at a file"),
    ("readable by others", "can be read or written by others (mode 0644); run: chmod 600 {key}"),
], ids=["symlink", "short", "folder", "readable-by-others"])
def test_a_key_file_that_cannot_be_a_key_is_refused_and_never_touched(project, kind, problem):
    import os
    import stat

    project.notebook("a.ipynb", "x = 1")
    project.spec("notebooks:\n  a: {path: a.ipynb}\n")
    key = target = project.root / "keys" / "snapshot.key"
    key.parent.mkdir()
    if kind == "folder":
        key.mkdir()
    else:
        target.write_bytes(os.urandom(10 if kind == "short" else 32))
        target.chmod(0o600 if kind == "short" else 0o644)
    if kind == "symlink":
        key = project.root / "link.key"
        key.symlink_to(target)
    def state():
        return (target.is_file() and target.read_bytes(), stat.S_IMODE(target.stat().st_mode),
                sorted(os.listdir(target.parent)))

    before = state()
    proc = _run_with_key(project, key)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = f"nbgraph: error: snapshot signing key {key}: {problem.format(key=key, target=target)}"
    assert proc.stderr.startswith(message) and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert state() == before and not (project.root / "build/a").exists()  # bytes, mode, no file beside it


@pytest.mark.slow
def test_key_folders_are_private_whatever_the_umask(project):
    import os
    import stat

    project.notebook("a.ipynb", "x = 1")
    project.spec("notebooks:\n  a: {path: a.ipynb}\n")
    key = project.root / "keys" / "mine" / "snapshot.key"
    proc = _run_with_key(project, key, preexec_fn=lambda: os.umask(0))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    modes = {str(p.relative_to(project.root)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in (key.parent.parent, key.parent, key)}
    assert modes == {"keys": "0o700", "keys/mine": "0o700", "keys/mine/snapshot.key": "0o600"}


@pytest.mark.slow
@pytest.mark.parametrize("fork", [True, False])
def test_views_of_one_unnamed_array_stay_views_of_each_other_in_the_child(project, fork):
    """A row of a Fortran-ordered matrix that is itself a view (as libraries return them), kept
    by a ``for`` loop: the child's ``row`` must still alias ``matrix``."""
    project.notebook("p.ipynb", """
        import numpy as np
        big = np.arange(20.0).reshape(4, 5)
        matrix = np.asfortranarray(big)[:, 1:]      # a view of an array no variable names
        for row in matrix:
            pass
        del big
        far = np.arange(100_000.0).reshape(1000, 100)[::50]   # its views too far apart: copies
        far_row = far[1]
    """)
    project.notebook("c.ipynb", """
        row[0] = -1
        far_row[0] = -1
        print("aliased", bool((matrix == -1).any()), bool((far == -1).any()), row.flags.f_contiguous)
    """)
    project.spec(f"fork: {str(fork).lower()}\nnotebooks:\n  p: {{path: p.ipynb}}\n  c: {{path: c.ipynb, parent: p}}\n")
    proc = project.cli("run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "aliased True False" in "".join(outputs_of(project.root / "build" / "c" / "default" / "c.ipynb"))
