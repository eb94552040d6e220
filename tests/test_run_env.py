"""A run leaves the caller's os.environ alone: runs in two threads of one process, each with its
own signing key, do not meet (the JupyterLab extension's server runs graphs this way)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from conftest import outputs_of, write_notebook, write_spec
from nbgraph import run
from nbgraph.errors import SnapshotError
from nbgraph.kernels.job import run_env
from nbgraph.snapshot import sign

#: the parent waits until the other run's parent has started too, so both runs are in flight at once
PARENT = """
import os, pathlib, time
here, other = pathlib.Path(os.environ['RENDEZVOUS']) / NAME, pathlib.Path(os.environ['RENDEZVOUS']) / OTHER
here.touch()
deadline = time.monotonic() + 120
while not other.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
x = 41
"""
CHILD = "import os, sys\nprint(x + k, os.environ.get('NBGRAPH_RUN'), os.environ.get('NBGRAPH_KEY_FILE'), " \
        "'nbgraph.kernels.fork.child' in sys.modules)"


def graph(folder: Path, name: str, other: str) -> Path:
    write_notebook(folder / "parent.ipynb", f"NAME, OTHER = {name!r}, {other!r}", PARENT)
    write_notebook(folder / "child.ipynb", CHILD, parameters="k = 0")
    return write_spec(folder, "notebooks:\n  parent: parent.ipynb\n"
                              "  child: {path: child.ipynb, parent: parent, grid: {k: [1, 2]}}\n")


@pytest.mark.slow
def test_two_runs_in_two_threads_sign_with_their_own_keys_and_leave_os_environ_alone(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("RENDEZVOUS", str(tmp_path))  # read by the notebooks; set before the copy below
    before = dict(os.environ)
    keys = {name: tmp_path / f"{name}.key" for name in ("a", "b")}
    specs = {"a": graph(tmp_path / "a", "a", "b"), "b": graph(tmp_path / "b", "b", "a")}
    forks = {"a": True, "b": False}  # one run forks its children from a zygote, the other starts fresh kernels
    results, errors = {}, []

    def one(name: str) -> None:
        try:
            results[name] = run(specs[name], key_file=keys[name], fork=forks[name], jobs=2)
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=(name,)) for name in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert dict(os.environ) == before
    for name, other in (("a", "b"), ("b", "a")):
        result = results[name]
        assert result.ok, {n: r.error for n, r in result.records.items()}
        for k in (1, 2):
            said = outputs_of(tmp_path / name / f"build/child/k={k}/child.ipynb")
            assert f"{41 + k} 1 {keys[name]} {forks[name]}\n" in said, said  # the kernel's env: the run's
        snapshot = Path(result.records["parent"].snapshot)
        manifest = json.loads((snapshot / "manifest.json").read_text())
        sign.verify_manifest(manifest, snapshot, key=keys[name].read_bytes())  # signed with its own key
        with pytest.raises(SnapshotError):
            sign.verify_manifest(manifest, snapshot, key=keys[other].read_bytes())
    assert "not forking" not in capfd.readouterr().err  # the zygote loaded its parent with the run's key


@pytest.mark.slow
def test_a_run_leaves_os_environ_as_it_was(tmp_path):
    write_notebook(tmp_path / "p.ipynb", "x = 1")
    write_notebook(tmp_path / "c.ipynb", "print(x)")
    spec = write_spec(tmp_path, "notebooks:\n  p: p.ipynb\n  c: {path: c.ipynb, parent: p}\n")
    before = dict(os.environ)
    assert run(spec).ok
    assert dict(os.environ) == before


def test_a_key_file_chosen_in_one_thread_is_not_seen_in_another(tmp_path, monkeypatch):
    monkeypatch.setenv(sign.KEY_ENV, "relative.key")
    before = dict(os.environ)
    seen = {}
    entered, leave = threading.Event(), threading.Event()

    def chooser() -> None:
        with sign.using_key_file(tmp_path / "mine.key") as named:
            seen["chooser"] = (named, sign.key_path())
            entered.set()
            leave.wait(10)

    t = threading.Thread(target=chooser)
    t.start()
    assert entered.wait(10)
    seen["other"] = sign.key_path()
    leave.set()
    t.join()
    assert seen["chooser"] == (tmp_path / "mine.key", tmp_path / "mine.key")
    assert seen["other"] == Path("relative.key").absolute()  # the environment's, made absolute
    assert dict(os.environ) == before


def test_the_kernels_environment_names_the_run_and_the_key_only_when_one_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv(sign.KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with sign.using_key_file(None) as named:
        assert named is None and sign.key_path() == tmp_path / "config/nbgraph/snapshot.key"
        assert run_env(named) == {"NBGRAPH_RUN": "1"}  # kernels find the same default key themselves
    with sign.using_key_file("k.key") as named:
        assert run_env(named) == {"NBGRAPH_RUN": "1", "NBGRAPH_KEY_FILE": str(Path("k.key").absolute())}
        with sign.using_key_file(None) as inner:  # None keeps the key in use
            assert inner == named
    assert sign.named_key_file() is None
