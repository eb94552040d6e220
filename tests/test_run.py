"""Real kernels, real papermill: state flows down three levels of inheritance with grids."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from conftest import outputs_of, write_notebook

pytestmark = pytest.mark.slow  # every test here runs real kernels

STUDY = """
    notebooks:
      base:
        path: nb/base.ipynb
      mid:
        path: nb/mid.ipynb
        parent: base
        grid: {scale: [2, 3]}
      leaf:
        path: nb/leaf.ipynb
        parent: mid
        grid: {offset: [10, 20]}
        params: {label: leafy}
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One three-level study, run once through the real CLI, shared by the assertions below."""
    from conftest import run_cli, write_notebook, write_spec

    root = tmp_path_factory.mktemp("study")
    write_notebook(root / "nb/base.ipynb", """
        import os, random
        drawn = random.random()
        cwd_seen = os.getcwd()
        shared = [1, 2, 3]
        alias = shared
        def combine(x):
            return x * scale + offset
        class Model:
            def __init__(self, w):
                self.w = w
            def predict(self, x):
                return self.w * x
        scale, offset = 1, 0
        print("base drew", drawn)
    """)
    write_notebook(root / "nb/mid.ipynb", """
        model = Model(scale)
        print("mid sees", drawn, scale)
    """, parameters="scale = 1")
    write_notebook(root / "nb/leaf.ipynb", """
        print(json.dumps({"drawn": drawn, "combine": combine(5), "predict": model.predict(7),
                          "is_model": isinstance(model, Model), "alias": alias is shared,
                          "label": label, "cwd": cwd_seen}))
    """, parameters="import json\noffset = 0\nlabel = 'default'")
    spec = write_spec(root, STUDY)
    source_before = {p: p.read_bytes() for p in (root / "nb").glob("*.ipynb")}
    proc = run_cli("run", str(spec), "--jobs", "2", cwd=root)
    status = json.loads(run_cli("status", str(spec), "--json", cwd=root).stdout)
    return root, proc, status, source_before


def leaf_results(status):
    out = {}
    for row in status:
        if row["node"] == "leaf":
            lines = [ln for text in outputs_of(Path(row["output"])) for ln in text.splitlines()]
            out[row["name"]] = json.loads(next(ln for ln in lines if ln.startswith("{")))
    return out


def test_run_succeeds_and_status_lists_every_variant(study):
    root, proc, status, _ = study
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "7 succeeded, 0 failed, 0 skipped" in proc.stdout
    names = [row["name"] for row in status]
    assert names == ["base", "mid[scale=2]", "mid[scale=3]",
                     "leaf[scale=2,offset=10]", "leaf[scale=2,offset=20]",
                     "leaf[scale=3,offset=10]", "leaf[scale=3,offset=20]"]
    for row in status:
        assert row["status"] == "succeeded"
        assert Path(row["output"]).is_absolute() and Path(row["output"]).is_file()
        assert Path(row["snapshot"]).is_dir()
        assert row["stale"] is False
    leaf = status[-1]
    assert leaf["params"] == {"scale": 3, "offset": 20, "label": "leafy"}
    assert Path(leaf["output"]) == root / "build/leaf/scale=3,offset=20/leaf.ipynb"


def test_state_is_copied_not_recomputed(study):
    _, _, status, _ = study
    results = leaf_results(status)
    base_out = "".join(outputs_of(Path(status[0]["output"])))
    base_drawn = float(base_out.split("base drew ")[1].split()[0])
    assert {r["drawn"] for r in results.values()} == {base_drawn}


def test_parent_defined_function_and_class_work_in_grandchild(study):
    _, _, status, _ = study
    results = leaf_results(status)
    # combine reads the grandchild's own globals: its scale (inherited from mid's params) and offset
    assert results["leaf[scale=3,offset=20]"]["combine"] == 5 * 3 + 20
    assert results["leaf[scale=2,offset=10]"]["combine"] == 5 * 2 + 10
    assert results["leaf[scale=2,offset=10]"]["predict"] == 14
    assert all(r["is_model"] and r["alias"] for r in results.values())


def test_parameters_override_inherited_values(study):
    _, _, status, _ = study
    results = leaf_results(status)
    assert {r["label"] for r in results.values()} == {"leafy"}
    # mid's injected scale overrode both base's scale=1 and its own parameters cell
    assert results["leaf[scale=3,offset=10]"]["predict"] == 21


def test_each_notebook_runs_in_its_own_folder_and_sources_stay_untouched(study):
    root, _, status, source_before = study
    results = leaf_results(status)
    assert {r["cwd"] for r in results.values()} == {str(root / "nb")}
    for path, data in source_before.items():
        assert path.read_bytes() == data


def test_injected_cells_are_tagged_and_labelled(study):
    _, _, status, _ = study
    nb = nbformat.read(status[-1]["output"], as_version=4)
    first, last = nb.cells[0], nb.cells[-1]
    assert "nbgraph-inherit" in first.metadata.tags and "nbgraph-injected" in first.metadata.tags
    assert first.source.startswith("# nbgraph: injected cell")
    assert "mid[scale=3]" in first.source
    assert "nbgraph-snapshot" in last.metadata.tags
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags.index(["injected-parameters"]) > 0  # papermill's parameters come after the inherited state
    assert nb.metadata.nbgraph["variant"] == "leaf[scale=3,offset=20]"


def test_second_run_is_up_to_date(study):
    from conftest import run_cli

    root, _, _, _ = study
    proc = run_cli("run", cwd=root)
    assert proc.returncode == 0
    assert "0 succeeded, 0 failed, 0 skipped, 7 up to date" in proc.stdout


def test_failure_skips_only_descendants(project):
    project.notebook("p.ipynb", "x = 41")
    bad = project.notebook("bad.ipynb", "y = x + 1", "raise ValueError('boom in bad')")
    doc = json.loads(bad.read_text())  # as a hand-written or generated notebook: no cell ids
    for cell in doc["cells"]:
        del cell["id"]
    bad.write_text(json.dumps(doc))
    project.notebook("after_bad.ipynb", "print(y)")
    project.notebook("good.ipynb", "z = x + 1", "print(z)")
    project.notebook("after_good.ipynb", "print(z + 1)")
    project.spec("""
        notebooks:
          p: {path: p.ipynb}
          bad: {path: bad.ipynb, parent: p}
          after_bad: {path: after_bad.ipynb, parent: bad}
          good: {path: good.ipynb, parent: p}
          after_good: {path: after_good.ipynb, parent: good}
    """)
    proc = project.cli("run", "--jobs", "1")
    assert proc.returncode == 1
    assert "3 succeeded, 1 failed, 1 skipped" in proc.stdout
    # the cell is counted in the user's notebook, as timeouts and dead kernels are
    assert "ValueError: boom in bad, raised in cell 2 (raise ValueError('boom in bad'))" in proc.stdout
    # and as the traceback in its executed notebook calls it (injected cells come before it there)
    executed = nbformat.read(project.root / "build" / "bad" / "default" / "bad.ipynb", as_version=4)
    count = next(c.execution_count for c in executed.cells if "boom in bad" in c.source)
    assert f"(raise ValueError('boom in bad')), Cell In[{count}] of the executed notebook" in proc.stdout
    assert "Warning" not in proc.stderr  # nbformat's MissingIDFieldWarning is not the user's concern
    # the failure comes first, then what it skipped, and why
    assert proc.stdout.index("failed    bad") < proc.stdout.index("skipped   after_bad  parent bad failed")
    log = project.cli("logs", "after_bad")
    assert log.returncode == 2 and "after_bad has no log: it was skipped in the last run (parent bad failed)" in log.stderr
    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    assert rows["bad"]["status"] == "failed"
    assert rows["after_bad"]["status"] == "skipped" and rows["after_bad"]["output"] is None
    assert rows["after_good"]["status"] == "succeeded"
    failed_nb = nbformat.read(rows["bad"]["output"], as_version=4)
    assert any(o.get("ename") == "ValueError" for c in failed_nb.cells for o in c.get("outputs", []))
    assert str(project.root / "build/bad/default/bad.ipynb") in proc.stdout
    # failed and skipped variants are stale; the rest are not
    assert rows["bad"]["stale"] and rows["after_bad"]["stale"] and not rows["good"]["stale"]


def test_only_reuses_parent_snapshot_and_errors_without_one(project):
    project.notebook("p.ipynb", "import random\nv = random.random()")
    project.notebook("c.ipynb", "print(v)")
    project.spec("notebooks:\n  p: {path: p.ipynb}\n  c: {path: c.ipynb, parent: p}\n")
    missing = project.cli("run", "--only", "c")
    assert missing.returncode == 2
    assert "has no snapshot yet" in missing.stderr and "Traceback" not in missing.stderr
    unknown = project.cli("run", "--only", "nope")
    assert unknown.returncode == 2 and "no such node" in unknown.stderr
    assert project.cli("run").returncode == 0
    first = outputs_of(project.root / "build/c/default/c.ipynb")
    again = project.cli("run", "--only", "c", "--force")
    assert again.returncode == 0 and "1 succeeded" in again.stdout
    assert outputs_of(project.root / "build/c/default/c.ipynb")[1] == first[1]  # same inherited v
    state = next((project.root / "build/p/default").glob("snapshot-*/state.pkl"))
    state.write_bytes(state.read_bytes()[:-1] + b"\0")  # the parent's snapshot is altered since
    broken = project.cli("run", "--only", "c", "--force")
    assert broken.returncode == 1
    assert "the snapshot of parent p cannot be used (" in broken.stdout and "state.pkl is missing or was altered" \
        in broken.stdout and "re-run it: nbgraph run --force --only p" in broken.stdout, broken.stdout


def test_mixins_merge_in_order_later_wins_and_collisions_are_listed(project):
    project.notebook("a.ipynb", "who = 'a'\nonly_a = 1")
    project.notebook("b.ipynb", "who = 'b'\nonly_b = 2")
    project.notebook("m.ipynb", "print(who, only_a, only_b)")
    project.spec("""
        notebooks:
          a: {path: a.ipynb}
          b: {path: b.ipynb}
          m: {path: m.ipynb, parents: [a, b]}
    """)
    proc = project.cli("run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "defined by several parents" in proc.stdout and "who" in proc.stdout
    outputs = outputs_of(project.root / "build/m/default/m.ipynb")
    assert outputs[1].strip() == "b 1 2"
    assert "later wins" in outputs[0] and "who" in outputs[0]


def test_a_kernel_that_is_not_installed_is_bad_input_before_anything_runs(project):
    project.notebook("p.ipynb", "x = 1")
    project.notebook("c.ipynb", "y = x")
    write_notebook(project.root / "theirs.ipynb", "z = 1", kernel="conda-env-someone-else-py")
    project.spec("""
        notebooks:
          p: {path: p.ipynb}
          c:
            path: c.ipynb
            parent: p
            kernel: pyhton3
    """)
    for command in ("validate", "run"):
        proc = project.cli(command)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"nbgraph: error: {project.root / 'inheritance.yaml'}:3: node 'c', field 'kernel': "
                                      "kernel 'pyhton3' is not installed here"), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (project.root / "build" / "p").exists()  # the parent did not run first

    project.spec("""
        notebooks:
          t: {path: theirs.ipynb}
    """)
    proc = project.cli("run")
    assert proc.returncode == 2
    assert "its notebook theirs.ipynb asks for kernel 'conda-env-someone-else-py'" in proc.stderr
    assert "set 'kernel:' for this node" in proc.stderr


def test_a_notebook_without_kernel_metadata_runs_on_python3_and_says_so(project):
    """A tool that wrote no ``metadata.kernelspec``: papermill alone refuses it at run time."""
    for name, cells in (("p.ipynb", ["x = 41"]), ("c.ipynb", ["y = x + 1", "print(y)"])):
        nb = nbformat.v4.new_notebook()  # no kernelspec at all
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nbformat.write(nb, project.root / name)
    project.spec("""
        notebooks:
          p: {path: p.ipynb}
          c: {path: c.ipynb, parent: p}
    """)
    note = "c.ipynb (node c) names no kernel (no metadata.kernelspec); it runs on python3; set 'kernel:' in"
    checked = project.cli("validate")
    assert checked.returncode == 0 and note in checked.stderr, checked.stderr
    ran = project.cli("run")
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.count(note) == 1, ran.stderr  # once per node, not per variant
    assert "42\n" in outputs_of(project.root / "build" / "c" / "default" / "c.ipynb")
    assert nbformat.read(project.root / "c.ipynb", as_version=4).metadata.get("kernelspec") is None  # source untouched


PHASES = {"zygote", "prepare", "kernel", "own_cells", "injected_cells", "write", "seal"}


def test_a_record_says_where_its_run_time_went(study):
    root, _, status, _ = study
    for row in status:
        timings = row["timings"]
        record = json.loads((Path(row["output"]).parent / "record.json").read_text())
        assert record["timings"] == timings
        assert set(timings) == PHASES, row["name"]  # forked (zygote), or PHASES - {"zygote"} fresh
        assert all(seconds >= 0 for seconds in timings.values())
        assert timings["injected_cells"] > 0  # nbgraph's cells (inherit or uses, parameters, snapshot)
        # every phase of the run, and nothing twice: they add up to its duration
        assert abs(sum(v for k, v in timings.items() if k != "zygote") - row["duration"]) < 0.05, timings
        own = sum(c["metadata"]["papermill"]["duration"] for c in nbformat.read(row["output"], as_version=4).cells
                  if not {"nbgraph-injected", "injected-parameters"} & set(c["metadata"].get("tags", [])))
        assert abs(timings["own_cells"] - own) < 0.01
