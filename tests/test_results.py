"""Results to look at: ancestors' values in a child's row, one number format per column, charts
(``results --plot`` and the report's), a sortable table in a real browser, ``nbgraph.results``."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

import nbgraph
from conftest import browser_dom, chromium
from nbgraph.report.charts import draw_chart
from nbgraph.report.results import ResultRow, table_cells


def _study(project):
    project.notebook("load.ipynb", "import nbgraph\nnbgraph.record('rows', 120)")
    project.notebook("model.ipynb", "import nbgraph\nacc = {'svm': 1, 'forest': 0.8123, 'ridge': 0.75}[model]\n"
                     "nbgraph.record('acc', acc)\nnbgraph.record('label', 'run-' + model)", parameters="model = ''")
    project.spec("""
        notebooks:
          load: {path: load.ipynb}
          model: {path: model.ipynb, parent: load, grid: {model: [svm, forest, ridge]}}
    """)
    ran = project.cli("run")
    assert ran.returncode == 0, ran.stdout + ran.stderr


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_a_childs_row_shows_its_ancestors_values_and_charts_are_written(project):
    _study(project)
    rows = {r["name"]: r for r in json.loads(project.cli("results", "--format", "json").stdout)}
    assert rows["model[model=svm]"]["results"] == {"acc": 1, "label": "run-svm"}
    assert rows["model[model=svm]"]["inherited"] == {"load.rows": 120}
    assert rows["load"]["inherited"] == {}
    table = project.cli("results", "--node", "model", "--sort=-acc").stdout.splitlines()
    assert table[0].split() == ["variant", "status", "model", "acc", "label", "load.rows"]
    assert [line.split()[3] for line in table[1:4]] == ["1.0000", "0.8123", "0.7500"]  # one format per column

    chart = project.cli("results", "--plot", "acc")
    assert chart.returncode == 0, chart.stderr
    path = project.root / "build" / "charts" / "acc.png"
    assert chart.stdout.strip() == f"wrote {path}" and _png_size(path.read_bytes())[1] > 100
    assert project.cli("results", "--plot", "acc").returncode == 0  # its own chart: replaced
    inherited = project.cli("results", "--plot", "load.rows", "-o", "rows.svg")
    assert inherited.returncode == 0 and (project.root / "rows.svg").read_text().count("<svg") == 1
    text = project.cli("results", "--plot", "label")
    assert text.returncode == 2 and text.stderr == (
        "nbgraph: error: --plot label: no variant recorded a number named 'label'; "
        "numbers recorded: rows, acc, load.rows\n")
    mine = project.cli("results", "--plot", "acc", "-o", "model.ipynb")
    assert mine.returncode == 2 and "model.ipynb: a chart is .png or .svg" in mine.stderr
    (project.root / "notes.png").write_bytes(b"my own picture")
    theirs = project.cli("results", "--plot", "acc", "-o", "notes.png")
    assert theirs.returncode == 2 and "pass --force to replace it" in theirs.stderr
    assert (project.root / "notes.png").read_bytes() == b"my own picture"


@pytest.mark.slow
def test_nbgraph_results_is_a_dataframe_or_without_pandas_a_list_of_dicts(project):
    _study(project)
    frame = nbgraph.results(project.root / "inheritance.yaml")
    assert list(frame.index) == ["load", "model[model=svm]", "model[model=forest]", "model[model=ridge]"]
    assert frame.loc["model[model=forest]", "acc"] == 0.8123
    assert frame.loc["model[model=forest]", "load.rows"] == 120 and frame.loc["load", "rows"] == 120
    assert list(frame.columns[:4]) == ["node", "status", "stale", "model"]
    probe = ("import sys, json; sys.modules['pandas'] = None\nimport nbgraph\n"
             f"print(json.dumps(nbgraph.results({str(project.root / 'inheritance.yaml')!r}, nodes=['model'])))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    plain = json.loads(done.stdout)
    assert plain[0] == {"variant": "model[model=svm]", "node": "model", "status": "succeeded", "stale": False,
                        "model": "svm", "acc": 1, "label": "run-svm", "load.rows": 120}


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="no chromium binary: apt-get install chromium (.ci/run does)")
def test_the_reports_table_sorts_in_a_real_browser_and_shows_a_chart_per_number(project, tmp_path):
    _study(project)
    done = project.cli("report")
    assert done.returncode == 0, done.stderr
    out = project.root / "build" / "report"
    assert sorted(p.name for p in (out / "charts").iterdir()) == ["acc.svg", "rows.svg"]  # own numbers only
    listed = json.loads((out / ".nbgraph-report.json").read_text())
    assert "charts/acc.svg" in json.dumps(listed)  # a later report may remove them, nothing else

    def order(fragment: str) -> list[str]:
        dom = browser_dom(chromium(), out / "index.html", tmp_path / f"profile{len(fragment)}", fragment)
        table = dom.split('id="results"', 1)[1].split("</table>", 1)[0]
        assert 'data-metric="acc" src="charts/acc.svg"' in dom
        return [part.split('"', 1)[0] for part in table.split('<tr data-variant="')[1:]]

    assert order("") == ["load", "model[model=svm]", "model[model=forest]", "model[model=ridge]"]
    assert order("#sort=-acc") == ["model[model=svm]", "model[model=forest]", "model[model=ridge]", "load"]
    assert order("#sort=acc") == ["model[model=ridge]", "model[model=forest]", "model[model=svm]", "load"]
    assert order("#sort=label")[:3] == ["model[model=forest]", "model[model=ridge]", "model[model=svm]"]


def test_a_chart_of_sixty_variants_grows_to_keep_every_label_and_colours_by_a_parameter():
    rows = [ResultRow(name=f"train[lr={lr},model={m}]", node="train", status="succeeded", stale=False,
                      params={"lr": lr, "model": m}, results={"loss": 1 / (1 + i)})
            for i, (lr, m) in enumerate((lr, m) for lr in range(20) for m in ("a", "b", "c"))]
    small, large = draw_chart(rows[:3], "loss"), draw_chart(rows, "loss")
    assert large.get_size_inches()[1] > 5 * small.get_size_inches()[1] / 2
    [axes] = large.axes
    assert len(axes.get_yticklabels()) == 60
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert sorted(legend) == ["model=a", "model=b", "model=c"]  # lr has 20 values: too many to colour by


def test_one_number_format_per_column_ints_among_floats_too():
    rows = [ResultRow(name=n, node="a", status="succeeded", stale=False, results={"v": v})
            for n, v in (("a[1]", 3), ("a[2]", 0.25), ("a[3]", True))]
    _, body = table_cells(rows)
    assert [cells[-1] for cells in body] == ["3.00", "0.25", "true"]
