"""Issue 14.2: text notebooks as nodes: percent-format ``.py`` scripts (and MyST ``.md``), read by jupytext."""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest

from conftest import outputs_of, write_notebook

from nbgraph.graph import run_graph, variants_of
from nbgraph.nbfile import executed_name, read_notebook
from nbgraph.build.records import BuildLayout
from nbgraph.spec import load_spec

PREP = '''\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Prep
# Squares of the first n numbers.

# %% tags=["parameters"]
n = 2

# %%
squares = [i * i for i in range(n)]  # the slow part
print("prep", n, sum(squares))
'''

MYST = '''\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Report

```{code-cell}
:tags: [parameters]
scale = 1
```

```{code-cell}
print("myst", sum(squares) * scale)
```
'''


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_a_percent_script_is_read_as_the_notebook_it_converts_to(tmp_path):
    prep = _write(tmp_path / "prep.py", PREP)
    nb = read_notebook(prep)
    assert nb.problem is None and nb.kernel == "python3" and nb.has_parameters_cell
    assert nb.code == ("n = 2", 'squares = [i * i for i in range(n)]  # the slow part\nprint("prep", n, sum(squares))')
    # the key is its code cells: a markdown cell's comment line does not count, a code comment does
    prep.write_text(PREP.replace("# Squares of the first n numbers.", "# Squares, cached."))
    assert read_notebook(prep).code == nb.code
    prep.write_text(PREP.replace("# the slow part", "# the slow bit"))
    assert read_notebook(prep).code != nb.code
    myst = read_notebook(_write(tmp_path / "report.md", MYST))
    assert myst.problem is None and myst.has_parameters_cell and myst.code[1] == 'print("myst", sum(squares) * scale)'
    assert (executed_name(prep), executed_name(tmp_path / "report.md"), executed_name(tmp_path / "a.ipynb")) == (
        "prep.ipynb", "report.ipynb", "a.ipynb")


def test_a_script_without_percent_cells_gets_one_clear_line(project):
    _write(project.root / "plain.py", "x = 1\nprint(x)\n")
    project.spec("notebooks:\n  plain: {path: plain.py}\n")
    done = project.cli("validate")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"nbgraph: error: {project.root / 'inheritance.yaml'}:2: node 'plain', field 'path': ")
    assert "'plain.py' is not a valid notebook (no '# %%' cell markers)" in done.stderr
    assert """'# %% tags=["parameters"]'""" in done.stderr and "Traceback" not in done.stderr


def test_the_executed_copy_of_a_text_notebook_is_an_ipynb(project):
    _write(project.root / "prep.py", PREP)
    spec = load_spec(project.spec("notebooks:\n  prep: {path: prep.py, grid: {n: [3]}}\n"))
    [variant] = variants_of(run_graph(spec))
    layout = BuildLayout.for_spec(spec)
    assert layout.output_path(variant, spec.nodes["prep"].path) == spec.build_dir / "prep" / "n=3" / "prep.ipynb"
    assert layout.log_path(variant, spec.nodes["prep"].path).name == "prep.log"


def test_add_creates_a_percent_script_or_a_myst_notebook(project):
    write_notebook(project.root / "load.ipynb", "x = 1")
    spec = project.spec("notebooks:\n  load: {path: load.ipynb}\n")
    done = project.cli("add", "nb/child.py", "--parent", "load", "--grid", "k=1,2", "--params", "seed=0")
    assert done.returncode == 0, done.stderr
    text = (project.root / "nb" / "child.py").read_text()
    assert "# %% tags=[\"parameters\"]\nseed = 0\nk = 1\n" in text and 'inherit_from("../load.ipynb")' in text
    assert read_notebook(project.root / "nb" / "child.py").kernel == "python3"  # the parent's, in the header
    assert load_spec(spec).nodes["child"].path == project.root / "nb" / "child.py"
    assert project.cli("add", "kid.md", "--parent", "child").returncode == 0
    assert read_notebook(project.root / "kid.md").code[0] == 'from nbgraph import inherit_from\ninherit_from("nb/child.py")'
    refused = project.cli("add", "notes.txt", "--parent", "load")
    assert refused.returncode == 2 and "must end in .ipynb, .py (a percent-format script) or .md" in refused.stderr


@pytest.mark.slow
def test_a_percent_script_runs_like_its_notebook_and_children_inherit_both_ways(project):
    _write(project.root / "prep.py", PREP)
    write_notebook(project.root / "mid.ipynb", "total = sum(squares) + 1")
    _write(project.root / "leaf.py", '# %%\nprint("leaf", n, total, squares)\n')
    _write(project.root / "report.md", MYST)
    project.spec("""
        notebooks:
          prep: {path: prep.py, grid: {n: [3, 4]}}
          mid: {path: mid.ipynb, parent: prep}
          leaf: {path: leaf.py, parent: mid}
          myst: {path: report.md, parent: prep, grid: {scale: [10]}}
    """)
    done = project.cli("run")
    assert done.returncode == 0, done.stderr
    build = project.root / "build"
    prep = nbformat.read(build / "prep" / "n=3" / "prep.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in prep.cells]
    assert tags.index(["parameters"]) + 1 == tags.index(["injected-parameters"])  # papermill's place for them
    assert "prep 3 5\n" in outputs_of(build / "prep" / "n=3" / "prep.ipynb")
    assert "leaf 4 15 [0, 1, 4, 9]\n" in outputs_of(build / "leaf" / "n=4" / "leaf.ipynb")
    assert "myst 50\n" in outputs_of(build / "myst" / "n=3,scale=10" / "report.ipynb")
    assert (build / "leaf" / "n=4" / "leaf.log").is_file() and not list(build.rglob("*.py"))
    assert json.loads(project.cli("status", "--json").stdout)[0]["output"].endswith("prep.ipynb")
    assert "leaf 4 15 [0, 1, 4, 9]" in project.cli("logs", "leaf[n=4]").stdout
    report = project.cli("report")
    assert report.returncode == 0 and "(8 notebooks)" in report.stdout, report.stderr
    assert (build / "report" / "notebooks" / "leaf" / "n=4.html").is_file()

    (project.root / "prep.py").write_text(PREP.replace("# Squares of the first n numbers.", "# Squares, cached."))
    assert "8 variants, 0 would run" in project.cli("status").stdout  # a markdown cell is not code
    (project.root / "prep.py").write_text(PREP.replace("# the slow part", "# the slow bit"))
    dry = project.cli("run", "--dry-run").stdout
    assert "would run  prep[n=3]  (code changed)" in dry and "would run  leaf[n=3]  (parent mid[n=3] will re-run)" in dry


@pytest.mark.slow
def test_a_script_open_in_jupyter_is_a_live_parent(tmp_path_factory):
    """In Lab (with jupytext) a .py opens as a notebook session whose path ends .py: inherit_from and attach find it."""
    from jupyter_live import live_server
    from nbgraph import run

    with live_server(tmp_path_factory.mktemp("jupyter")) as jupyter:
        study = jupyter.root / "text"
        _write(study / "prep.py", PREP)
        _write(study / "child.py", '# %%\nprint("child", n, squares)\n')
        spec = study / "inheritance.yaml"
        spec.write_text("notebooks:\n  notes: {path: prep.py, attach: true}\n  child: {path: child.py, parent: notes}\n")
        live = jupyter.open("text/prep.py", "n = 3", "squares = [i * i for i in range(n)]")

        other = jupyter.open("text/other.ipynb")
        out = other.run("from nbgraph import inherit_from\nprint(repr(inherit_from('text/prep.py')))\nprint(squares)")
        assert "text/prep.py" in out and out.rstrip().endswith("[0, 1, 4]")

        result = run(spec)
        assert result.outcome == {"notes": "attached", "child": "succeeded"}
        assert result.records["notes"].attached["notebook"] == "text/prep.py"
        assert "child 3 [0, 1, 4]\n" in outputs_of(result.records["child"].output)
        assert result.records["child"].output.endswith("child.ipynb")
        live.close()
        other.close()


def test_the_readmes_percent_script_is_one(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("### Text notebooks\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    nb = read_notebook(_write(tmp_path / "train.py", example))
    assert nb.problem is None and nb.has_parameters_cell and nb.code == ('model = "svm"', "print(model, X.shape)")
