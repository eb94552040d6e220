"""What the command prints when its output goes to a pipe rather than a terminal."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_status_piped_is_one_line_per_variant_and_a_closed_pipe_is_quiet(project):
    project.notebook("n.ipynb", "y = 1", parameters="x = 0")
    project.spec("""
        notebooks:
          a_node_with_a_name_long_enough_to_wrap_an_80_column_table:
            path: n.ipynb
            grid: {x: [%s]}
    """ % ", ".join(str(i) for i in range(1500)))
    proc = project.cli("status")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 + 1500 + 1  # header, one per variant (nothing wrapped), the count
    assert all(line.rstrip().endswith("runs: never ran") for line in lines[1:-1])

    # `nbgraph status | head -1`: the reader goes away; no traceback, no "internal error"
    reader = subprocess.Popen([sys.executable, "-m", "nbgraph", "status"], cwd=project.root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.readline()
    reader.stdout.close()
    err = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 141, err
    assert err == ""


@pytest.mark.slow
def test_a_notebook_without_parameters_cell_is_noted_once_per_node(project):
    project.notebook("plain.ipynb", "print('a is', a)", "gen = (i for i in range(3))")  # no cell tagged 'parameters'
    project.spec("""
        notebooks:
          plain:
            path: plain.ipynb
            grid: {a: [1, 2]}
    """)
    proc = project.cli("run")
    assert proc.returncode == 0, proc.stderr
    assert "does not contain a cell with tag" not in proc.stderr  # papermill's line, once per variant
    assert proc.stderr.count("plain.ipynb (node plain) has no cell tagged 'parameters'") == 1, proc.stderr
    # a variable every variant of a node skips is reported once for the node
    assert proc.stdout.count("not passed down by plain (2 variants): gen (generator): ") == 1, proc.stdout
    wrong = project.cli("logs", "plain[a=3]")
    assert wrong.returncode == 2 and "plain[a=3]: no such node or variant" in wrong.stderr


def test_a_build_dir_that_cannot_be_created_is_bad_input(project):
    project.notebook("n.ipynb", "x = 1")
    (project.root / "taken").write_text("a file, not a folder")
    project.spec("""
        build_dir: taken/build
        notebooks:
          n: {path: n.ipynb}
    """)
    for command in ("run", "status", "results", "report", "clean"):
        proc = project.cli(command)
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "taken/build" in proc.stderr and "Traceback" not in proc.stderr


def test_progress_on_a_terminal_shows_counts_first_and_no_empty_bar():
    import io

    from rich.console import Console

    from nbgraph.report.terminal import make_events

    def shown(total: int) -> str:
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=60, color_system=None)
        with make_events(console) as events:
            events.planned(total)
        return out.getvalue()

    assert "0/0" not in shown(0)  # a no-op run prints only its summary
    one = shown(1).rsplit("\r", 1)[-1]  # the last rendering
    assert one.index("0/1") < one.index("waiting")  # a long list of running variants cannot push the count off


def test_debug_keeps_the_exit_code_and_adds_the_traceback(project):
    quiet = project.cli("validate", "missing.yaml")
    debug = project.cli("--debug", "validate", "missing.yaml")
    assert quiet.returncode == debug.returncode == 2, debug.stderr
    assert "Traceback" not in quiet.stderr and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.splitlines()[-1] == quiet.stderr.strip()  # the same line, last


@pytest.mark.slow
def test_json_output_is_strict_json_with_non_finite_numbers_as_strings(project):
    import json
    import math

    project.notebook("n.ipynb", "import nbgraph\nnbgraph.record('loss', float('nan'))\nnbgraph.record('ok', 0.5)",
                     parameters="scale = 1.0")
    project.spec("""
        notebooks:
          n: {path: n.ipynb, params: {cap: .inf}, grid: {scale: [.nan, -.inf, 2.0]}}
    """)
    assert project.cli("run").returncode == 0

    def strict(text: str):
        def refuse(constant: str):
            raise AssertionError(f"{constant} is not JSON")
        return json.loads(text, parse_constant=refuse)

    status = strict(project.cli("status", "--json").stdout)
    results = strict(project.cli("results", "--format", "json").stdout)
    assert sorted((r["params"]["scale"] for r in status), key=str) == ["-inf", 2.0, "nan"]
    assert all(r["params"]["cap"] == "inf" for r in status + results)
    assert all(r["results"] == {"loss": "nan", "ok": 0.5} for r in status)
    assert not any(isinstance(v, float) and not math.isfinite(v) for r in results for v in r["params"].values())


def test_logs_takes_its_spec_first_like_every_command_and_names_a_slip(project):
    project.notebook("n.ipynb", "y = 1", parameters="k = 0")
    project.spec("""
        notebooks:
          n: {path: n.ipynb, grid: {k: [1, 2]}}
    """)
    (project.root / "study.yaml").write_text((project.root / "inheritance.yaml").read_text())
    shown = [project.cli(*args) for args in (("logs", "n[k=1]"), ("logs", "study.yaml", "n[k=1]"),
                                             ("logs", "--spec", "study.yaml", "n[k=1]"))]
    assert len({(p.returncode, p.stdout, p.stderr) for p in shown}) == 1, shown  # the same answer three ways
    slip = project.cli("logs", "study.yaml")
    assert slip.returncode == 2 and "Traceback" not in slip.stderr
    assert slip.stderr == ("nbgraph: error: nbgraph logs study.yaml: that is a spec, not a variant; name the "
                           "variant too: nbgraph logs study.yaml VARIANT (nbgraph status study.yaml lists them)\n")
    both = project.cli("logs", "study.yaml", "n[k=1]", "--spec", "inheritance.yaml")
    assert both.returncode == 2 and "nbgraph logs [SPEC] VARIANT" in both.stderr


def test_validate_counts_nodes_and_their_notebook_files(project):
    project.notebook("model.ipynb", "y = 1", parameters="k = 0")
    project.spec("""
        notebooks:
          svm: {path: model.ipynb, params: {k: 1}}
          forest: {path: model.ipynb, params: {k: 2}, grid: {depth: [3, 5]}}
    """)
    proc = project.cli("validate")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "inheritance.yaml: OK, 2 nodes (1 notebook file), 3 variants\n"


def test_report_of_a_build_that_never_ran_says_there_is_nothing_to_report(project):
    project.notebook("n.ipynb", "y = 1")
    project.spec("notebooks: {n: {path: n.ipynb}}\n")
    proc = project.cli("report")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == ("nbgraph: error: nbgraph report: nothing to report: no variant of inheritance.yaml "
                           "has run yet; run nbgraph run inheritance.yaml first\n")
    assert not (project.root / "build").exists()  # no empty page, no folder


def test_plot_tells_apart_two_nodes_of_one_notebook_by_their_fixed_parameters(project):
    project.notebook("model.ipynb", "y = 1", parameters="C = 0\nkernel = 'linear'")
    project.spec("""
        notebooks:
          svm: {path: model.ipynb, params: {C: 1, kernel: rbf}}
          plain: {path: model.ipynb}
    """)
    dot = project.cli("plot", "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert 'label="svm\\nmodel.ipynb  C=1, kernel=rbf\\n' in dot.stdout, dot.stdout
    assert 'label="plain\\nmodel.ipynb\\n' in dot.stdout, dot.stdout
    mermaid = project.cli("plot", "--format", "mermaid")
    assert "<b>svm</b><br/>model.ipynb  C=1, kernel=rbf<br/>" in mermaid.stdout, mermaid.stdout


def test_the_failure_summary_names_what_exists_never_none(project, tmp_path):
    """A kernel that could not start leaves no executed notebook: say the log if there is one, else nothing."""
    import io

    from rich.console import Console

    from nbgraph.plan import make_plan
    from nbgraph.build.records import FAILED, Record
    from nbgraph.report.terminal import print_summary
    from nbgraph.scheduler import RunResult
    from nbgraph.spec import load_spec

    project.notebook("a.ipynb", "x = 1")
    project.notebook("b.ipynb", "y = 1")
    plan = make_plan(load_spec(project.spec("notebooks: {a: {path: a.ipynb}, b: {path: b.ipynb}}\n")))
    log = project.root / "build" / "a" / "default" / "a.log"
    log.parent.mkdir(parents=True)
    log.write_text("NoSuchKernel: nope\n")
    result = RunResult(plan=plan)
    for name in ("a", "b"):
        result.records[name] = Record(name=name, node=name, status=FAILED, error="NoSuchKernel: nope", output=None)
        result.outcome[name] = FAILED
    out = io.StringIO()
    print_summary(Console(file=out, width=200), result)
    text = out.getvalue()
    assert "None" not in text, text
    assert f"failed: a: NoSuchKernel: nope\n        log: {log}\n" in text
    assert "failed: b: NoSuchKernel: nope\n" in text and "notebook:" not in text
