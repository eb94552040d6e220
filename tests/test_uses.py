"""What a notebook used, without a kernel: the recorder in this process, hashes, reasons, the spec keys."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time

import pytest

from nbgraph.deps import hashes as hashes_module
from nbgraph.deps.check import changed
from nbgraph.deps.collect import collect
from nbgraph.deps.hashes import FileHashes
from nbgraph.deps.packages import distribution_of, version_in
from nbgraph.notebook import uses


@pytest.fixture
def settled(monkeypatch):
    """Files written by the test a moment ago may be remembered (the settle delay is for clocks, not tests)."""
    monkeypatch.setattr(hashes_module, "SETTLE", 0.0)


def _record(tmp_path, body):
    """Run ``body`` between the kernel side's start and finish, in this process; what it wrote down."""
    root, build = tmp_path / "proj", tmp_path / "proj" / "build"
    build.mkdir(parents=True)
    cwd = os.getcwd()
    os.chdir(root)
    sys.path.insert(0, str(root))
    try:
        uses.start(str(root), str(build))
        try:
            body(root)
        finally:
            uses.finish(str(tmp_path / "uses.json"))
    finally:
        os.chdir(cwd)
        sys.path.remove(str(root))
    return json.loads((tmp_path / "uses.json").read_text())


def test_the_recorder_sorts_code_data_and_packages(tmp_path):
    (tmp_path / "proj" / "locpkg_7f3").mkdir(parents=True)
    (tmp_path / "proj" / "locpkg_7f3" / "__init__.py").write_text("from . import inner\n")
    (tmp_path / "proj" / "locpkg_7f3" / "inner.py").write_text("import yaml\nK = 1\n")
    (tmp_path / "proj" / "data.csv").write_text("a,b\n")
    (tmp_path / "proj" / "text.txt").write_text("hello\n")
    (tmp_path / "outside.txt").write_text("in the temp folder, outside the project\n")

    def body(root):
        import pathlib

        importlib.import_module("locpkg_7f3")
        open("data.csv").read()
        pathlib.Path("text.txt").read_text()
        (root / "build" / "mine.txt").write_text("x")
        (root / "build" / "mine.txt").read_text()
        with open("written.txt", "w") as f:
            f.write("x")
        open("written.txt").read()  # its own output read back: not an input
        open(tmp_path / "outside.txt").read()
        json.loads("{}")  # the standard library: never listed

    used = _record(tmp_path, body)
    root = tmp_path / "proj"
    assert used["modules"] == [str(root / "locpkg_7f3" / "__init__.py"), str(root / "locpkg_7f3" / "inner.py")]
    assert used["files"] == [str(root / "data.csv"), str(root / "text.txt")]
    assert list(used["packages"]) == ["yaml"]  # imported by a local module
    assert "yaml" not in sys.modules or sys.modules["yaml"].__file__.startswith(used["packages"]["yaml"])
    assert uses._recording is None and __import__ is not uses._import


def test_an_import_of_a_module_already_loaded_is_recorded_and_kernel_machinery_is_not(tmp_path):
    importlib.import_module("yaml")  # loaded before recording, as a zygote's pre-imports are

    def body(root):
        import yaml  # noqa: F401
        import IPython  # noqa: F401

    used = _record(tmp_path, body)
    assert list(used["packages"]) == ["yaml"]


def test_collect_names_distributions_and_keeps_paths_relative(tmp_path, settled):
    root = tmp_path
    (root / "lib.py").write_text("x = 1\n")
    (root / "data").mkdir()
    (root / "data" / "a.bin").write_bytes(b"1")
    import yaml

    site = os.path.dirname(os.path.dirname(yaml.__file__))
    recorded = {"modules": [str(root / "lib.py")], "files": [str(root / "gone.csv")], "packages": {"yaml": site}}
    got = collect(recorded, root, ["data/*.bin"], FileHashes(tmp_path / "note.json", b"k" * 32))
    assert list(got["modules"]) == ["lib.py"] and got["files"] == {}  # read, then removed: nothing to compare
    assert got["packages"]["pyyaml"]["version"] == version_in("PyYAML", site)
    assert list(got["inputs"]["data/*.bin"]) == ["data/a.bin"]


def test_hashes_follow_content_not_timestamps(tmp_path, settled):
    note = tmp_path / "note.json"
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    first = FileHashes(note, b"k" * 32)
    sha = first.digest(data)
    first.save()
    os.utime(data)  # touch
    assert FileHashes(note, b"k" * 32).digest(data) == sha
    st = data.stat()
    data.write_text("a,b\n3,4\n")  # same size, and the old mtime put back: the change time still moved
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert FileHashes(note, b"k" * 32).digest(data) != sha
    assert FileHashes(note, b"k" * 32).digest(tmp_path / "missing") is None
    assert FileHashes(note, b"k" * 32).digest(tmp_path) is None  # a folder is no file


def test_a_note_that_does_not_verify_is_ignored(tmp_path, settled):
    note, data = tmp_path / "note.json", tmp_path / "data.csv"
    data.write_text("real\n")
    hashes = FileHashes(note, b"k" * 32)
    real = hashes.digest(data)
    hashes.save()
    forged = json.loads(note.read_text())
    entries = json.loads(forged["entries"])
    entries[str(data)][-1] = "0" * 64
    forged["entries"] = json.dumps(entries)
    note.write_text(json.dumps(forged))
    assert FileHashes(note, b"k" * 32).digest(data) == real
    assert FileHashes(note, b"another key" * 3)._entries == {}  # another key's note is not this one's


def test_a_file_hashed_right_after_a_change_is_not_remembered(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("fresh\n")
    hashes = FileHashes(tmp_path / "note.json", b"k" * 32)
    hashes.digest(data)
    assert str(data) not in hashes._entries


def _uses(root, **files):
    hashes = FileHashes(root / "note.json", b"k" * 32)
    return {"files": {name: hashes.digest(root / name) for name in files}}, hashes


def test_reasons_name_the_thing(tmp_path, settled):
    (tmp_path / "data").mkdir()
    for name in ("a.parquet", "b.parquet"):
        (tmp_path / "data" / name).write_bytes(b"PAR1")
    (tmp_path / "raw.csv").write_text("x\n")
    hashes = FileHashes(tmp_path / "note.json", b"k" * 32)
    from nbgraph.deps.collect import declared

    used = {"files": {"raw.csv": hashes.digest(tmp_path / "raw.csv")},
            "inputs": declared(["data/*.parquet", "db.sql"], tmp_path, hashes)}
    inputs = ["data/*.parquet", "db.sql"]
    assert changed(used, tmp_path, inputs, hashes) == (None, [])
    (tmp_path / "raw.csv").write_text("y\n")
    assert changed(used, tmp_path, inputs, hashes)[0] == "raw.csv changed"
    (tmp_path / "raw.csv").unlink()
    assert changed(used, tmp_path, inputs, hashes)[0] == "raw.csv is missing"
    (tmp_path / "raw.csv").write_text("x\n")  # the same bytes again
    assert changed(used, tmp_path, inputs, hashes)[0] is None
    for name in ("c.parquet", "d.parquet"):
        (tmp_path / "data" / name).write_bytes(b"PAR1")
    assert changed(used, tmp_path, inputs, hashes)[0] == "input data/*.parquet: 2 new files"
    for name in ("a.parquet", "c.parquet", "d.parquet"):
        (tmp_path / "data" / name).unlink()
    assert changed(used, tmp_path, inputs, hashes)[0] == "input data/*.parquet: 1 file removed"
    (tmp_path / "data" / "a.parquet").write_bytes(b"PAR2")
    assert changed(used, tmp_path, inputs, hashes)[0] == "input data/*.parquet: data/a.parquet changed"
    (tmp_path / "data" / "a.parquet").write_bytes(b"PAR1")
    (tmp_path / "db.sql").write_text("create table t;\n")
    assert changed(used, tmp_path, inputs, hashes)[0] == "input db.sql: 1 new file"
    (tmp_path / "db.sql").unlink()
    assert changed(used, tmp_path, [*inputs, "more/*.h5"], hashes)[0] == "input more/*.h5 is newly declared"


def _site(folder, name, version, tops=None):
    meta = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nlong text\n")
    if tops:
        (meta / "top_level.txt").write_text("\n".join(tops) + "\n")
    return meta


def test_packages_from_a_site_folder_and_a_version_change(tmp_path):
    site = tmp_path / "site"
    _site(site, "scikit-learn", "1.5.0", tops=["sklearn"])
    meta = _site(site, "tiny", "1.0")
    assert distribution_of("sklearn", str(site)) == ("scikit-learn", "1.5.0")
    assert distribution_of("tiny", str(site)) == ("tiny", "1.0")
    assert distribution_of("nothing_here", str(site)) is None
    used = {"packages": {"scikit-learn": {"version": "1.5.0", "site": str(site)}}}
    hashes = FileHashes(tmp_path / "note.json", b"k" * 32)
    assert changed(used, tmp_path, [], hashes) == (None, [])
    for path in sorted(site.glob("scikit_learn-*")):
        (path / "METADATA").write_text("Name: scikit-learn\nVersion: 1.6.1\n")
        path.rename(site / "scikit_learn-1.6.1.dist-info")
    time.sleep(0.01)
    assert changed(used, tmp_path, [], hashes) == ("scikit-learn 1.5.0 -> 1.6.1", [])
    assert changed(used, tmp_path, [], hashes, track_packages=False) == (
        None, ["scikit-learn 1.5.0 -> 1.6.1 (track_packages: false)"])
    assert meta.is_dir()


@pytest.mark.parametrize("text,fragments", [
    ("notebooks:\n  a:\n    path: a.ipynb\n    inputs: {data: 1}\n", ["node 'a', field 'inputs'", ":4:", "list of paths or globs"]),
    ("notebooks:\n  a:\n    path: a.ipynb\n    inputs: [data/*.csv, 3]\n", ["node 'a', field 'inputs'", ":4:"]),
    ("notebooks:\n  a:\n    path: a.ipynb\n    inputs: ['  ']\n", ["field 'inputs'", "is not a path or glob"]),
    ("inputs: 7\nnotebooks:\n  a: {path: a.ipynb}\n", ["field 'inputs'", ":1:"]),
    ("track_packages: sometimes\nnotebooks:\n  a: {path: a.ipynb}\n", ["field 'track_packages'", ":1:", "true or false"]),
    ("notebooks:\n  a: {path: a.ipynb, attach: true, inputs: [x.csv]}\n", ["field 'inputs'", "attach: true"]),
])
def test_bad_inputs_and_track_packages_are_one_line_exit_2(project, text, fragments):
    from conftest import run_cli

    project.notebook("a.ipynb", "x = 1")
    project.spec(text)
    proc = run_cli("validate", cwd=project.root)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, line
    assert line.startswith(f"nbgraph: error: {project.root / 'inheritance.yaml'}:"), line
    for fragment in fragments:
        assert fragment in line, line


def test_declared_inputs_are_the_top_levels_then_the_nodes(project):
    from nbgraph.spec import load_spec

    project.notebook("a.ipynb", "x = 1")
    project.spec("inputs: [db.sql]\ntrack_packages: false\nnotebooks:\n  a: {path: a.ipynb, inputs: data/*.csv}\n")
    spec = load_spec(project.root / "inheritance.yaml")
    assert spec.node_inputs(spec.nodes["a"]) == ("db.sql", "data/*.csv")
    assert spec.track_packages is False
