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


#: issue 10: each of these validated, then ``run`` failed on it (or never ended)
RUN_WOULD_REFUSE = {
    "nan timeout": ("notebooks:\n  a: {path: a.ipynb, timeout: .nan}\n", ":2:", "node 'a', field 'timeout'"),
    "infinite timeout": ("timeout: .inf\nnotebooks:\n  a: {path: a.ipynb}\n", ":1:", "field 'timeout'"),
    # an attached node's dump waits with jupyter_client's blocking poll: int(1e300 * 1000) overflows it
    "timeout too large to wait for": ("notebooks:\n  a: {path: a.ipynb, timeout: 1.0e+300}\n", ":2:",
                                      "node 'a', field 'timeout'"),
    "endless retries": ("notebooks:\n  a:\n    path: a.ipynb\n    retries: 100000000000000000000000\n", ":4:",
                        "node 'a', field 'retries'"),
    "node name too long for a folder": (f"notebooks:\n  {'n' * 300}: {{path: a.ipynb}}\n", ":2:",
                                        f"node name '{'n' * 40}...' is 300 characters long; node names are at most 100"),
    "notebook name too long for the files named after it": (f"notebooks:\n  a: {{path: {'x' * 220}.ipynb}}\n", ":2:",
                                                            "node 'a', field 'path'"),
    # '$' matched before a final newline: a grid key 'p\n' validated, then failed at run time
    "parameter name ending in a newline": ('notebooks:\n  a: {path: a.ipynb, grid: {"p\\n": [1]}}\n', ":2:",
                                           "node 'a', field 'grid': parameter name 'p\\n' must be a Python identifier"),
    # 1 and '1' as keys: sorting them for the key was an internal error; in JSON they are one key
    "mapping keys of two types": ("notebooks:\n  a: {path: a.ipynb, params: {d: {1: x, b: 2}}}\n", ":2:",
                                  "node 'a', field 'params': value of 'd': mapping key 1 must be a string"),
    "a node name ending in a newline": ('notebooks:\n  "a\\n": {path: a.ipynb}\n', ":2:", "node name 'a\\n' must start"),
}


@pytest.mark.parametrize("case", sorted(RUN_WOULD_REFUSE))
def test_validate_refuses_what_run_would_refuse(nbs, case):
    text, line, subject = RUN_WOULD_REFUSE[case]
    nbs.notebook("x" * 220 + ".ipynb", "x = 1")
    nbs.spec(text)
    proc = nbs.cli("validate")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [message] = proc.stderr.strip().splitlines()
    assert f"inheritance.yaml{line} {subject}" in message, message


def test_run_refuses_a_timeout_that_is_not_a_number_of_seconds(nbs):
    nbs.spec("notebooks:\n  a: {path: a.ipynb}\n")
    for value in ("nan", "inf", "-1", "1e300"):
        proc = nbs.cli("run", "--timeout", value)
        assert proc.returncode == 2, (value, proc.stdout + proc.stderr)
        assert "Invalid value for '--timeout'" in proc.stderr and "positive number of seconds" in proc.stderr
        assert not (nbs.root / "build").exists()  # refused before anything ran


#: issue 10: nbgraph's own entries in the build folder (the lock file cannot be a node name anyway)
OWN_NAMES = {"report": "report", "Report": "report", "graph.png": "graph.png", "GRAPH.svg": "graph.svg"}


@pytest.mark.parametrize("name", sorted(OWN_NAMES))
def test_a_node_cannot_share_its_folder_with_nbgraphs_own_files(nbs, name):
    nbs.spec(f"notebooks:\n  a: {{path: a.ipynb}}\n  {name}: {{path: b.ipynb, parent: a}}\n")
    proc = nbs.cli("validate")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [message] = proc.stderr.strip().splitlines()
    assert f"inheritance.yaml:3: node name '{name}' would share its folder with" in message, message
    assert f"(build_dir/{OWN_NAMES[name]}); rename the node" in message


@pytest.mark.slow
def test_the_names_refused_are_exactly_what_nbgraph_writes_beside_node_folders(nbs):
    """One list (nbgraph.names.OWN_ENTRIES) for the lock, the chunk store, the plots, the report and Lab's copies: a new one cannot be forgotten."""
    from nbgraph.names import OWN_ENTRIES

    nbs.notebook("a.ipynb", "import nbgraph, numpy\nbig = numpy.ones(100_000)\nnbgraph.record('score', 0.5)")
    nbs.spec("notebooks:\n  a: {path: a.ipynb, grid: {p: [a/b]}}\n")
    for command in (["run"], ["plot"], ["plot", "--format", "svg"], ["report"], ["results", "--plot", "score"]):
        proc = nbs.cli(*command)
        assert proc.returncode == 0, (command, proc.stdout + proc.stderr)
    from nbgraph.lab.files import executed_copy  # the Lab panel opens executed notebooks as copies

    executed_copy(nbs.root / "inheritance.yaml", "a")
    written = {p.name for p in (nbs.root / "build").iterdir()} - {"a"}
    assert written == set(OWN_ENTRIES)
    # the report links to the notebook of folder p=a%2Fb, not to one of p=a/b
    assert (nbs.root / "build/report/notebooks/a/p=a%2Fb.html").is_file()
    assert 'href="notebooks/a/p=a%252Fb.html"' in (nbs.root / "build/report/index.html").read_text()


def test_names_that_differ_only_in_case_are_refused_as_macos_would_merge_their_folders(nbs):
    nbs.spec("notebooks:\n  train: {path: a.ipynb}\n  Train: {path: b.ipynb}\n")
    nodes = nbs.cli("validate")
    assert nodes.returncode == 2 and "node names 'train' and 'Train' differ only in case" in nodes.stderr
    nbs.spec("notebooks:\n  a: {path: a.ipynb, grid: {model: [SVM, svm, Ridge]}}\n")
    values = nbs.cli("validate")
    assert values.returncode == 2, values.stdout
    [message] = values.stderr.strip().splitlines()
    assert ":2: node 'a', field 'grid': variants a[model=SVM] and a[model=svm] would share the output folder" in message


def test_yaml_merge_keys_are_read_and_errors_point_where_a_merged_key_is_written(nbs):
    spec = load_spec(nbs.spec("""
        notebooks:
          a: &defaults
            path: a.ipynb
            timeout: 30
            params: {seed: 1}
          b:
            <<: *defaults
            path: b.ipynb
            timeout: 60
          c:
            <<: [*defaults, {kernel: python3}]
            parent: b
          d:
            <<: [{timeout: 5, retries: 1}, *defaults]
    """))
    b, c, d = spec.nodes["b"], spec.nodes["c"], spec.nodes["d"]
    assert (b.path.name, b.timeout, dict(b.params)) == ("b.ipynb", 60.0, {"seed": 1})
    assert (c.path.name, c.timeout, c.kernel, c.parents) == ("a.ipynb", 30.0, "python3", ("b",))
    assert (d.timeout, d.retries, dict(d.params)) == (5.0, 1, {"seed": 1})  # the first merged mapping wins
    message = str(error_for(nbs, "notebooks:\n  a: &d\n    path: a.ipynb\n    params: {x: 1}\n"
                                 "  b:\n    <<: *d\n    attach: true\n"))
    assert ":4: node 'b', field 'params': 'params' does not apply with 'attach: true'" in message
    twice = str(error_for(nbs, "notebooks:\n  a: &d {path: a.ipynb}\n  b:\n    <<: *d\n    path: b.ipynb\n    path: c.ipynb\n"))
    assert "'path' is defined twice (first on line 5)" in twice


def test_an_alias_bomb_is_refused_at_once(nbs):
    """Issue 10: 500 bytes of nested aliases stand for 9**9 values; validate walked them for ever."""
    levels = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    levels += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    nbs.spec("notebooks:\n  a:\n    path: a.ipynb\n    params:\n" + "".join(f"      {lv}\n" for lv in levels))
    proc = nbs.cli("validate", timeout=30)
    assert proc.returncode == 2, proc.stdout
    [message] = proc.stderr.strip().splitlines()
    assert "aliases here expand to more than 100000 values" in message and "inheritance.yaml:" in message


def test_every_key_of_the_tables_refuses_a_value_of_the_wrong_shape_on_its_own_line(nbs):
    """A key is one row of :mod:`nbgraph.spec.fields`; each row's check names its key and points at its line."""
    from nbgraph.spec.fields import NODE_FIELDS, TOP_FIELDS

    for row in NODE_FIELDS:
        text = f"notebooks:\n  a:\n    {'path: a.ipynb' if row.key != 'path' else 'kernel: python3'}\n    {row.key}: [[1]]\n"
        error = error_for(nbs, text)
        field = "grid[0]" if row.key == "grid" else row.key  # a list grid: the item that is not a mapping
        assert (error.line, error.node, error.field) == (4, "a", field), str(error)
    for row in TOP_FIELDS:
        if row.key != "notebooks":
            error = error_for(nbs, f"notebooks:\n  a: {{path: a.ipynb}}\n{row.key}: [[1]]\n")
            assert (error.line, error.node, error.field) == (3, None, row.key), str(error)
    assert str(error_for(nbs, "notebooks: [[1]]\n")).endswith(":1: 'notebooks:' must map node names to nodes, "
                                                              "e.g. notebooks: {load: {path: load.ipynb}}")
