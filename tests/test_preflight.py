"""Checks before anything runs, without starting a kernel."""

import pytest

from conftest import write_notebook, write_spec
from nbgraph import preflight
from nbgraph.errors import SpecError
from nbgraph.executors.local import LocalExecutor
from nbgraph.plan import make_plan
from nbgraph.spec import load_spec


def test_untagged_parameters_are_noted_once_per_node(tmp_path):
    write_notebook(tmp_path / "plain.ipynb", "x = 0")
    write_notebook(tmp_path / "tagged.ipynb", "y = 1", parameters="k = 0")
    write_notebook(tmp_path / "still.ipynb", "z = 1")
    spec = write_spec(tmp_path, "notebooks:\n"
                                "  plain: {path: plain.ipynb, grid: {k: [1, 2]}}\n"
                                "  tagged: {path: tagged.ipynb, grid: {k: [1, 2]}}\n"
                                "  still: {path: still.ipynb}\n")  # no parameters: nothing to override
    assert preflight.untagged_notes(make_plan(load_spec(spec))) == [
        "nbgraph: note: plain.ipynb (node plain) has no cell tagged 'parameters'; its parameters are set above "
        "its first cell, so a value its own code assigns wins; tag the cell of defaults 'parameters'"]


def test_runs_here_is_about_the_executor_only(tmp_path):
    write_notebook(tmp_path / "a.ipynb", "x = 1")
    local = load_spec(write_spec(tmp_path, "notebooks: {a: {path: a.ipynb}}\n"))
    dask = load_spec(write_spec(tmp_path, "executor: dask\nnotebooks: {a: {path: a.ipynb}}\n"))
    assert preflight.runs_here(local) and not preflight.runs_here(dask)
    assert preflight.runs_here(dask, "local") and not preflight.runs_here(local, "dask")
    with LocalExecutor(1) as executor:
        assert preflight.runs_here(dask, executor)
    assert not preflight.runs_here(local, object())


@pytest.mark.parametrize("yaml,field,says", [
    ("notebooks: {a: {path: a.ipynb, kernel: nope-kernel}}\n", "node 'a', field 'kernel'",
     "kernel 'nope-kernel' is not installed here"),
    ("kernel: nope-kernel\nnotebooks: {a: {path: a.ipynb}}\n", ":1: field 'kernel'", "(node 'a' uses it)"),
    ("notebooks: {a: {path: b.ipynb}}\n", "node 'a', field 'kernel'",
     "its notebook b.ipynb asks for kernel 'saved-elsewhere' (metadata.kernelspec)"),
])
def test_a_kernel_not_installed_is_refused_before_anything_runs(tmp_path, yaml, field, says):
    write_notebook(tmp_path / "a.ipynb", "x = 1")
    write_notebook(tmp_path / "b.ipynb", "x = 1", kernel="saved-elsewhere")
    plan = make_plan(load_spec(write_spec(tmp_path, yaml)))
    with pytest.raises(SpecError) as err:
        preflight.check(plan)
    assert field in str(err.value) and says in str(err.value)
    preflight.check(plan, "dask")  # its kernels start elsewhere: not checked here


def test_an_installed_kernel_passes_and_nothing_to_run_checks_nothing(tmp_path, capsys):
    write_notebook(tmp_path / "a.ipynb", "x = 1")
    preflight.check(make_plan(load_spec(write_spec(tmp_path, "notebooks: {a: {path: a.ipynb}}\n"))))
    assert capsys.readouterr().err == ""


def test_a_notebook_naming_no_kernel_is_noted_unless_the_spec_names_one(tmp_path):
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), tmp_path / "bare.ipynb")
    write_notebook(tmp_path / "named.ipynb", "x = 1")
    spec = load_spec(write_spec(tmp_path, "notebooks:\n  bare: {path: bare.ipynb}\n  named: {path: named.ipynb}\n"))
    assert preflight.kernel_notes(spec, spec.nodes.values()) == [
        "nbgraph: note: bare.ipynb (node bare) names no kernel (no metadata.kernelspec); it runs on python3; "
        "set 'kernel:' in inheritance.yaml to choose another"]
    chosen = load_spec(write_spec(tmp_path, "kernel: python3\nnotebooks: {bare: {path: bare.ipynb}}\n"))
    assert preflight.kernel_notes(chosen, chosen.nodes.values()) == []
