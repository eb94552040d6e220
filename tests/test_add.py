"""``nbgraph add`` keeps the user's YAML as written; ``nbgraph.record`` outside a graph run."""

from __future__ import annotations

import subprocess
import sys

import nbformat

from nbgraph.spec import load_spec

YAML = """\
# my study: comments, order and quoting must survive
build_dir: build   # outputs here

notebooks:
  load:
    path: nb/load.ipynb     # the slow part
    params: {n: 3}
  features:
    path: "nb/features.ipynb"
    parent: load
    grid:
      scaler: [standard, minmax]   # two scalers
"""


def test_add_appends_node_and_creates_notebook(project):
    project.notebook("nb/load.ipynb", "n = 1")
    project.notebook("nb/features.ipynb", "f = 2", parameters="scaler = 'standard'")
    spec = project.root / "inheritance.yaml"
    spec.write_text(YAML)

    done = project.cli("add", "nb/models/train.ipynb", "--parent", "features", "--grid", "lr=0.1,1",
                       "--grid", "opt=adam,sgd")
    assert done.returncode == 0, done.stderr
    text = spec.read_text()
    assert text.startswith(YAML)  # everything the user wrote, untouched
    assert text[len(YAML):] == ("  train:\n"
                                "    path: nb/models/train.ipynb\n"
                                "    parent: features\n"
                                "    grid: {lr: [0.1, 1], opt: [adam, sgd]}\n")
    node = load_spec(spec).nodes["train"]
    assert node.parents == ("features",) and dict(node.grid) == {"lr": (0.1, 1), "opt": ("adam", "sgd")}

    nb = nbformat.read(project.root / "nb/models/train.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # inherit first, then the parameters: a parameter wins over a parent's variable in JupyterLab too
    assert code[0].source == 'from nbgraph import inherit_from\ninherit_from("../features.ipynb")'
    assert code[1].metadata["tags"] == ["parameters"] and code[1].source == "lr = 0.1\nopt = 'adam'"
    assert nb.metadata["kernelspec"]["name"] == "python3"

    # an existing notebook is used as is; a node without a grid
    project.notebook("nb/report.ipynb", "print('mine')")
    assert project.cli("add", "nb/report.ipynb", "--parent", "load", "--name", "summary").returncode == 0
    assert load_spec(spec).nodes["summary"].path == project.root / "nb/report.ipynb"
    assert "print('mine')" in (project.root / "nb/report.ipynb").read_text()

    before = spec.read_text()
    taken = project.cli("add", "nb/other.ipynb", "--parent", "load", "--name", "features")
    assert taken.returncode == 2 and taken.stderr.count("\n") == 1
    assert "a node named 'features' already exists" in taken.stderr and "--name" in taken.stderr
    orphan = project.cli("add", "nb/other.ipynb", "--parent", "nope")
    assert orphan.returncode == 2 and "--parent nope: no such node" in orphan.stderr and "load, features" in orphan.stderr
    bad_grid = project.cli("add", "nb/other.ipynb", "--parent", "load", "--grid", "lr")
    assert bad_grid.returncode == 2 and "--grid lr" in bad_grid.stderr
    assert spec.read_text() == before and not (project.root / "nb/other.ipynb").exists()


def test_record_outside_nbgraph_prints_and_returns():
    code = "import numpy as np, nbgraph\nv = nbgraph.record('acc', np.float64(0.5))\nassert v == 0.5\n" \
           "try:\n    nbgraph.record('obj', object())\nexcept TypeError as e:\n    print(e)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "acc = 0.5"
    assert "a object cannot be recorded" in done.stdout



def _study(project):
    """A spec in ``study/`` while the command runs from the folder above it."""
    project.notebook("study/nb/load.ipynb", "n = 1")
    spec = project.root / "study" / "inheritance.yaml"
    spec.write_text("notebooks:\n  load: {path: nb/load.ipynb}\n")
    return spec


def test_add_refuses_a_node_name_it_would_change(project):
    spec = _study(project)
    before = spec.read_text()
    newline = project.cli("add", "study/nb/x.ipynb", "--parent", "load", "--name", "two\n", "--spec", str(spec))
    assert newline.returncode == 2 and newline.stderr.count("\n") == 1, newline.stderr
    assert "node name 'two\\n' is not allowed" in newline.stderr
    assert spec.read_text() == before and not (project.root / "study/nb/x.ipynb").exists()


def test_add_creates_notebooks_only_inside_the_spec_folder(project):
    spec = _study(project)
    before = spec.read_text()
    outside = project.cli("add", "elsewhere/o.ipynb", "--parent", "load", "--spec", str(spec))  # cwd is not the spec's
    assert outside.returncode == 2 and outside.stderr.count("\n") == 1, outside.stderr
    assert "outside" in outside.stderr and str(spec.parent) in outside.stderr
    assert not (project.root / "elsewhere").exists() and spec.read_text() == before
    # paths are the shell's (relative to the current folder); the YAML gets them relative to the spec's folder
    inside = project.cli("add", "study/nb/new/child.ipynb", "--parent", "load", "--spec", str(spec))
    assert inside.returncode == 0, inside.stderr
    assert "path: nb/new/child.ipynb" in spec.read_text() and (spec.parent / "nb/new/child.ipynb").is_file()
    # an existing notebook outside the spec's folder is used where it is
    project.notebook("shared/common.ipynb", "c = 3")
    shared = project.cli("add", "shared/common.ipynb", "--parent", "load", "--spec", str(spec))
    assert shared.returncode == 0, shared.stderr
    assert "path: ../shared/common.ipynb" in spec.read_text()


def test_dates_stay_the_strings_written_on_the_command_line_and_in_the_yaml(project):
    spec = _study(project)
    dated = project.cli("add", "study/nb/daily.ipynb", "--parent", "load", "--grid", "day=2020-01-01,2020-01-02",
                        "--spec", str(spec))
    assert dated.returncode == 0, dated.stderr
    assert dict(load_spec(spec).nodes["daily"].grid) == {"day": ("2020-01-01", "2020-01-02")}
    code = [c for c in nbformat.read(spec.parent / "nb/daily.ipynb", as_version=4).cells if c.cell_type == "code"]
    assert code[1].source == "day = '2020-01-01'"
    spec.write_text(spec.read_text() + "  typed:\n    path: nb/load.ipynb\n    params: {start: 2021-06-30}\n"
                    "    grid: {at: [2021-06-30 12:00:00]}\n")
    typed = load_spec(spec).nodes["typed"]
    assert typed.params == {"start": "2021-06-30"} and dict(typed.grid) == {"at": ("2021-06-30 12:00:00",)}
