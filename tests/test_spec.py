"""Validation: every bad spec is one line naming file, line, node and field; exit code 2."""

from __future__ import annotations

import pytest

from nbgraph.errors import CycleError, SpecError
from nbgraph.spec import load_spec


@pytest.fixture
def nbs(project):
    for name in ("a", "b", "c"):
        project.notebook(f"{name}.ipynb", "x = 1")
    (project.root / "broken.ipynb").write_text("{not json")
    (project.root / "plain.ipynb").write_text('{"hello": 1}')
    return project


def error_for(project, text: str) -> SpecError:
    spec = project.spec(text)
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(spec))
    return info.value


CASES = {
    "yaml syntax": ("notebooks:\n  a: {path: a.ipynb\n", ["invalid YAML", ":3:"]),
    "unknown top key": ("notebook:\n  a: {path: a.ipynb}\n", ["unknown top-level key 'notebook'", ":1:"]),
    "unknown node key": ("notebooks:\n  a:\n    path: a.ipynb\n    parnt: b\n", ["node 'a', field 'parnt'", "unknown key", ":4:"]),
    "missing path": ("notebooks:\n  a:\n    params: {x: 1}\n", ["node 'a'", "'path' is required"]),
    "missing file": ("notebooks:\n  a: {path: nope.ipynb}\n", ["node 'a', field 'path'", "does not exist"]),
    "grid values one name": ("notebooks:\n  a:\n    path: a.ipynb\n    grid: {x: [1, '1']}\n",
                             ["node 'a', field 'grid'", "include 1 both as a string and as a number", ":4:"]),
    "keyword parameter": ("notebooks:\n  a: {path: a.ipynb, params: {class: 1}}\n", ["field 'params'", "is a Python keyword"]),
    "path is a folder": ("notebooks:\n  a: {path: .}\n", ["node 'a', field 'path'", "is a folder"]),
    "empty file": ("# nothing yet\n", [":1:", "the file is empty"]),
    "not json": ("notebooks:\n  a: {path: broken.ipynb}\n", ["node 'a', field 'path'", "not a valid notebook"]),
    "not a notebook": ("notebooks:\n  a: {path: plain.ipynb}\n", ["not a valid notebook"]),
    "unknown parent": ("notebooks:\n  a: {path: a.ipynb, parent: zz}\n", ["node 'a', field 'parent'", "unknown parent 'zz'", "known nodes: a"]),
    "grid not list": ("notebooks:\n  a:\n    path: a.ipynb\n    grid: {alpha: 0.1}\n", ["node 'a', field 'grid'", "must be a list", ":4:"]),
    "duplicate name": ("notebooks:\n  a: {path: a.ipynb}\n  a: {path: b.ipynb}\n", ["'a' is defined twice", ":3:", "line 2"]),
    "params not mapping": ("notebooks:\n  a: {path: a.ipynb, params: [1]}\n", ["field 'params'"]),
    "parent and parents": ("notebooks:\n  a: {path: a.ipynb}\n  b: {path: b.ipynb, parent: a, parents: [a]}\n", ["either 'parent' or 'parents'"]),
    "attach with a parent": ("notebooks:\n  a: {path: a.ipynb}\n  b: {path: b.ipynb, parent: a, attach: true}\n",
                             ["node 'b', field 'parent'", "does not apply with 'attach: true'"]),
    "attach not a bool": ("notebooks:\n  a: {path: a.ipynb, attach: yes please}\n", ["field 'attach'", "true or false"]),
    "bad timeout": ("notebooks:\n  a: {path: a.ipynb, timeout: -3}\n", ["field 'timeout'", "positive"]),
    "grid key reused": ("notebooks:\n  a: {path: a.ipynb, grid: {k: [1, 2]}}\n  b: {path: b.ipynb, parent: a, grid: {k: [3]}}\n",
                        ["node 'b', field 'grid'", "ancestor 'a'"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_validation_error_is_one_precise_line(nbs, case):
    text, fragments = CASES[case]
    message = str(error_for(nbs, text))
    for fragment in fragments:
        assert fragment in message, message


def test_cycle_is_shown_as_a_path(nbs):
    spec = nbs.spec("""
        notebooks:
          a: {path: a.ipynb, parent: c}
          b: {path: b.ipynb, parent: a}
          c: {path: c.ipynb, parent: b}
    """)
    with pytest.raises(CycleError) as info:
        load_spec(spec)
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]
    assert " -> ".join(cycle) in str(info.value)


def test_paths_resolve_against_the_yaml_folder_not_the_cwd(nbs, tmp_path, monkeypatch):
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    monkeypatch.chdir(sub)
    spec = load_spec(nbs.spec("build_dir: out\nnotebooks:\n  a: {path: a.ipynb}\n"))
    assert spec.nodes["a"].path == (nbs.root / "a.ipynb").resolve()
    assert spec.build_dir == (nbs.root / "out").resolve()


def test_bad_spec_on_the_command_line_exits_2_without_traceback(nbs):
    nbs.spec("notebooks:\n  a: {path: a.ipynb, parent: zz}\n")
    for command in (["validate"], ["run"], ["status", "--json"]):
        proc = nbs.cli(*command)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "unknown parent 'zz'" in lines[0]
    debug = nbs.cli("--debug", "validate")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_missing_spec_file_is_a_clear_error(project):
    proc = project.cli("run", "nothere.yaml")
    assert proc.returncode == 2
    assert "nothere.yaml" in proc.stderr and "no such file" in proc.stderr
