"""Issue 13 with real kernels: editing what a notebook used re-runs exactly the variants that used it."""

from __future__ import annotations

import json
import os
import site
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, write_notebook, write_spec
from nbgraph import runner
from nbgraph.plan import make_plan
from nbgraph.spec import load_spec

pytestmark = pytest.mark.slow

SPEC = """
notebooks:
  load: {path: load.ipynb}
  runner: {path: runner.ipynb, parent: load, grid: {k: [1, 2]}}
  paths: {path: paths.ipynb, parent: load}
  arrays: {path: arrays.ipynb, parent: load}
  frames: {path: frames.ipynb, parent: load}
  opener: {path: opener.ipynb, parent: load}
  leaf: {path: leaf.ipynb, parent: opener}
  blind: {path: blind.ipynb, parent: load, inputs: ["data/*.bin"]}
"""

EVERY = {"load", "runner[k=1]", "runner[k=2]", "paths", "arrays", "frames", "opener", "leaf", "blind"}


def _project(root: Path) -> Path:
    (root / "lib").mkdir()
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "helpers.py").write_text("from lib.deep import K\n\n\ndef transform(x):\n    return x + K\n")
    (root / "lib" / "deep.py").write_text("K = 1\n")
    (root / "script.py").write_text("SCRIPT = 'ran'\n")
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("a,b\n1,2\n")
    (root / "data" / "text.txt").write_text("hello\n")
    (root / "data" / "table.csv").write_text("x,y\n1,2\n")
    (root / "data" / "blob.bin").write_bytes(b"\x00\x01")
    np.save(root / "data" / "arr.npy", np.arange(4))
    write_notebook(root / "load.ipynb", "from lib.helpers import transform\nbase = transform(1)")
    write_notebook(root / "runner.ipynb", "%run script.py", "print(SCRIPT, k)", parameters="k = 0")
    write_notebook(root / "paths.ipynb", "import pathlib\ntext = pathlib.Path('data/text.txt').read_text()")
    write_notebook(root / "arrays.ipynb", "import numpy as np\narr = np.load('data/arr.npy')")
    write_notebook(root / "frames.ipynb", "import pandas as pd\ndf = pd.read_csv('data/table.csv')")
    write_notebook(root / "opener.ipynb", "with open('data/raw.csv') as f:\n    raw = f.read()",
                   "with open('own.txt', 'w') as f:\n    f.write(raw)\nback = open('own.txt').read()")
    write_notebook(root / "leaf.ipynb", "y = base + 1")
    # read by another process: the kernel cannot see it, so the node declares it
    write_notebook(root / "blind.ipynb", "import subprocess\n"
                   "blob = subprocess.run(['cat', 'data/blob.bin'], capture_output=True).stdout")
    return write_spec(root, SPEC)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("uses")
    spec = _project(root)
    result = runner.run(spec, jobs=2)
    assert result.ok and set(result.names("succeeded")) == EVERY, result.records
    return root, spec


def stale(spec: Path) -> dict[str, str]:
    return {p.variant.name: p.decision.reason for p in make_plan(load_spec(spec)).items if p.decision.stale}


def test_status_json_lists_what_each_variant_used(study):
    root, _ = study
    proc = run_cli("status", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    uses = {row["name"]: row["uses"] for row in json.loads(proc.stdout)}
    assert uses["load"]["modules"] == ["lib/__init__.py", "lib/deep.py", "lib/helpers.py"]
    assert uses["runner[k=1]"]["modules"] == ["script.py"]  # %run
    assert uses["paths"]["files"] == ["data/text.txt"]
    assert uses["arrays"]["files"] == ["data/arr.npy"] and "numpy" in uses["arrays"]["packages"]
    assert uses["frames"]["files"] == ["data/table.csv"] and "pandas" in uses["frames"]["packages"]
    assert uses["opener"]["files"] == ["data/raw.csv"]  # not own.txt: written, then read back
    assert uses["leaf"] == {"modules": [], "files": [], "packages": {}, "inputs": {}}  # it uses them through its parent
    assert uses["blind"]["inputs"] == {"data/*.bin": ["data/blob.bin"]} and uses["blind"]["files"] == []
    assert all(row["packages"].get("ipykernel") is None for row in uses.values())


EDITS = {  # file -> (variants that go stale, the reason of the first one named)
    "lib/helpers.py": (EVERY, ("load", "lib/helpers.py changed")),
    "lib/deep.py": (EVERY, ("load", "lib/deep.py changed")),  # imported by another local module
    "script.py": ({"runner[k=1]", "runner[k=2]"}, ("runner[k=1]", "script.py changed")),
    "data/text.txt": ({"paths"}, ("paths", "data/text.txt changed")),
    "data/arr.npy": ({"arrays"}, ("arrays", "data/arr.npy changed")),
    "data/table.csv": ({"frames"}, ("frames", "data/table.csv changed")),
    "data/raw.csv": ({"opener", "leaf"}, ("leaf", "parent opener will re-run")),
    "data/blob.bin": ({"blind"}, ("blind", "input data/*.bin: data/blob.bin changed")),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_an_edit_makes_exactly_its_users_stale_and_same_bytes_or_touch_nothing(study, name):
    root, spec = study
    path = root / name
    before = path.read_bytes()
    expected, (variant, reason) = EDITS[name]
    try:
        path.write_bytes(before + b"\n# edited\n" if name.endswith(".py") else before + b"0")
        got = stale(spec)
        assert set(got) == expected and got[variant] == reason, got
    finally:
        path.write_bytes(before)  # the same bytes as when it ran, with a new mtime
    assert stale(spec) == {}
    os.utime(path)
    assert stale(spec) == {}


def test_a_missing_file_and_a_new_file_under_a_declared_glob(study):
    root, spec = study
    raw = root / "data" / "raw.csv"
    before = raw.read_bytes()
    raw.unlink()
    try:
        assert stale(spec) == {"opener": "data/raw.csv is missing", "leaf": "parent opener will re-run"}
    finally:
        raw.write_bytes(before)
    extra = root / "data" / "extra.bin"
    extra.write_bytes(b"new")
    try:
        assert stale(spec) == {"blind": "input data/*.bin: 1 new file"}
    finally:
        extra.unlink()
    assert stale(spec) == {}


def test_a_run_after_an_edit_runs_exactly_the_variants_that_used_it(study):
    root, spec = study
    raw = root / "data" / "raw.csv"
    before = raw.read_bytes()
    try:
        raw.write_bytes(before + b"3,4\n")
        proc = run_cli("run", "--dry-run", cwd=root)
        assert "would run  opener  (data/raw.csv changed)" in proc.stdout, proc.stdout
        result = runner.run(spec, jobs=2)
        assert set(result.names("succeeded")) == {"opener", "leaf"}, result.outcome
        assert stale(spec) == {}
    finally:
        raw.write_bytes(before)
    assert set(stale(spec)) == {"opener", "leaf"}  # it ran on the edited bytes
    assert runner.run(spec, jobs=2).ok and stale(spec) == {}


def test_forked_and_fresh_kernels_record_the_same_uses(study):
    root, spec = study
    uses = {}
    for fork in (True, False):
        result = runner.run(spec, force=True, jobs=2, fork=fork)
        assert result.ok, result.records
        uses[fork] = {name: record.uses for name, record in result.records.items()}
    assert uses[True] == uses[False]
    assert "numpy" in uses[False]["arrays"]["packages"]  # a zygote pre-imports numpy: still recorded


@pytest.fixture
def tiny_dist(tmp_path):
    """A tiny distribution installed into the test venv's site-packages for one test, as pip would
    lay it out (a module and its metadata folder); its version is changed by rewriting that metadata."""
    target = Path(site.getsitepackages()[0])
    name = f"nbgraph_tiny_{uuid.uuid4().hex[:8]}"
    (target / f"{name}.py").write_text("VALUE = 1\n")
    meta = target / f"{name}-1.0.dist-info"

    def install(version: str) -> None:
        for old in target.glob(f"{name}-*.dist-info"):
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        folder = target / f"{name}-{version}.dist-info"
        folder.mkdir()
        (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1000))

    install("1.0")
    yield name, install
    (target / f"{name}.py").unlink()
    for old in target.glob(f"{name}-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    assert not meta.exists()


def test_a_package_version_change_re_runs_unless_track_packages_is_false(tmp_path, tiny_dist):
    name, install = tiny_dist
    write_notebook(tmp_path / "uses_tiny.ipynb", f"import {name}\nvalue = {name}.VALUE")
    write_notebook(tmp_path / "child.ipynb", "v = value")
    text = "notebooks:\n  uses_tiny: {path: uses_tiny.ipynb}\n  child: {path: child.ipynb, parent: uses_tiny}\n"
    spec = write_spec(tmp_path, text)
    assert runner.run(spec, jobs=1).ok
    dist = name.replace("_", "-")
    assert load_record(tmp_path, "uses_tiny")["uses"]["packages"][dist]["version"] == "1.0"
    install("1.1")
    assert stale(spec) == {"uses_tiny": f"{dist} 1.0 -> 1.1", "child": "parent uses_tiny will re-run"}
    write_spec(tmp_path, "track_packages: false\n" + text)
    assert stale(spec) == {}
    proc = run_cli("status", "--json", cwd=tmp_path)
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["uses_tiny"]["notes"] == [f"{dist} 1.0 -> 1.1 (track_packages: false)"]
    assert f"{dist} 1.0 -> 1.1" in run_cli("status", cwd=tmp_path).stdout
    assert sys.modules.get(name) is None


def load_record(root: Path, node: str) -> dict:
    return json.loads((root / "build" / node / "default" / "record.json").read_text())
