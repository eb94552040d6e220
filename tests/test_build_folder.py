"""The build folder: who may create it, with which modes, and two specs that share one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # every test here runs real kernels


def test_commands_that_only_look_do_not_create_the_build_folder(project):
    project.notebook("a.ipynb", "x = 1")
    project.spec("notebooks: {a: {path: a.ipynb}}")
    for args in (["validate"], ["status"], ["status", "--json"], ["results"], ["results", "--format", "json"],
                 ["plot", "--format", "dot"], ["plot", "--format", "mermaid", "-o", "g.mmd"], ["run", "--dry-run"]):
        done = project.cli(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert not (project.root / "build").exists(), args
    assert project.cli("run").returncode == 0 and (project.root / "build" / "a").is_dir()


def test_build_folders_are_never_writable_by_others_even_under_umask_000(project):
    project.notebook("a.ipynb", "x = 1")
    project.notebook("b.ipynb", "y = x + d", parameters="d = 0")
    project.spec("""
        notebooks:
          a: {path: a.ipynb}
          b: {path: b.ipynb, parent: a, grid: {d: [1, 2]}}
    """)
    done = subprocess.run([sys.executable, "-m", "nbgraph", "run"], cwd=project.root, capture_output=True, text=True,
                          timeout=300, preexec_fn=lambda: os.umask(0))
    assert done.returncode == 0, done.stderr
    build = project.root / "build"
    open_to_others = {str(p.relative_to(project.root)): oct(stat.S_IMODE(p.stat().st_mode))
                      for p in [build, *build.rglob("*")] if p.stat().st_mode & 0o022}
    assert open_to_others == {}
    snapshots = [p for p in build.rglob("snapshot-*") if p.is_dir()]
    assert snapshots and all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in snapshots)


def test_two_specs_in_one_folder_keep_their_outputs_apart(project):
    root = project.root
    project.notebook("a.ipynb", "x = 1")
    project.notebook("b.ipynb", "y = 2")
    (root / "one.yaml").write_text("notebooks:\n  first: {path: a.ipynb}\n")
    (root / "two.yaml").write_text("notebooks:\n  second: {path: b.ipynb}\n")
    assert project.cli("run", "one.yaml").returncode == 0 and project.cli("run", "two.yaml").returncode == 0
    first, second = root / "build/first/default/record.json", root / "build/second/default/record.json"

    # clean removes only what the given spec's runs wrote (the other spec's node is not "gone"),
    # and the temporary files of a killed run
    partial = root / "build/second/default/.second.ipynb.x1.partial"
    partial.write_text("{")
    cleaned = project.cli("clean", "one.yaml")
    assert cleaned.returncode == 0, cleaned.stderr
    assert second.is_file() and first.is_file() and not partial.exists()
    assert f"kept 1 variant folder(s) of another spec, {root / 'two.yaml'}" in cleaned.stdout
    assert project.cli("clean", "two.yaml").returncode == 0 and first.is_file()

    # a third spec with a node of the same name: refused before anything runs, nothing mixed
    (root / "three.yaml").write_text("notebooks:\n  first: {path: b.ipynb}\n")
    before = first.read_bytes()
    for args in (["run", "three.yaml"], ["run", "--dry-run", "three.yaml"]):
        refused = project.cli(*args)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "build_dir" in refused.stderr and str(root / "one.yaml") in refused.stderr
    assert first.read_bytes() == before
    [row] = json.loads(project.cli("status", "--json", "three.yaml").stdout)
    assert row["status"] == "pending" and row["reason"] == "never ran"  # one.yaml's record is not its own

    # --all empties the build folder of this spec's outputs only
    assert project.cli("clean", "--all", "one.yaml").returncode == 0
    assert not first.exists() and second.is_file()

    # records written before specs were stamped, or by a spec since renamed, are the user's: kept and adopted
    data = json.loads(second.read_text())
    del data["spec"]
    second.write_text(json.dumps(data))
    (root / "two.yaml").rename(root / "renamed.yaml")
    again = project.cli("run", "renamed.yaml")
    assert again.returncode == 0 and "1 up to date" in again.stdout, again.stdout
    assert json.loads(second.read_text())["spec"] == "../renamed.yaml"
    (root / "two.yaml").write_text("notebooks:\n  second: {path: a.ipynb}\n")  # a new spec of the old name
    assert project.cli("run", "two.yaml").returncode == 2
