"""What users read after a run: results, plot, HTML report (in a real headless Chromium), clean.

One small study is built once for the module (a grid that records values, a failing
variant and the child it skips); the tests only read it, or work on a copy.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import nbgraph

from conftest import browser_dom, chromium, run_cli, write_notebook, write_spec

pytestmark = pytest.mark.slow  # every test here runs real kernels

SPEC = """
# a study with a failure in it
build_dir: out
notebooks:
  base:
    path: base.ipynb
  a:
    path: a.ipynb
    parent: base
    grid: {x: [1, 2, 3]}
  flaky:
    path: flaky.ipynb
    parent: base
  after:
    path: after.ipynb
    parent: flaky
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    write_notebook(root / "base.ipynb", "offset = 10")
    write_notebook(root / "a.ipynb", "import nbgraph\nnbgraph.record('score', offset + x / 4)\n"
                   "nbgraph.record('label', f'x-is-{x}')\nprint('marker-output', x)", parameters="x = 0")
    write_notebook(root / "flaky.ipynb", "raise ValueError('broken on purpose')")
    write_notebook(root / "after.ipynb", "print('never')")
    write_spec(root, SPEC)
    result = nbgraph.run(root / "inheritance.yaml", jobs=2)
    assert result.outcome["flaky"] == "failed" and result.outcome["after"] == "skipped"
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=root)


def test_results_rows_formats_and_sort(study):
    rows = json.loads(cli(study, "results", "--format", "json", "--sort=-score").stdout)
    assert [r["name"] for r in rows] == ["a[x=3]", "a[x=2]", "a[x=1]"]
    assert rows[0]["results"] == {"score": 10.75, "label": "x-is-3"}
    assert rows[0]["params"] == {"x": 3} and rows[0]["status"] == "succeeded"

    table = cli(study, "results", "--all", "--sort", "score")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["variant", "status", "x", "label", "score"]
    assert lines[1].split()[:5] == ["a[x=1]", "succeeded", "1", "x-is-1", "10.25"]
    assert any(line.split()[:2] == ["flaky", "failed"] for line in lines)

    parsed = list(csv.DictReader(io.StringIO(cli(study, "results", "--format", "csv").stdout)))
    assert {r["variant"]: float(r["score"]) for r in parsed} == {"a[x=1]": 10.25, "a[x=2]": 10.5, "a[x=3]": 10.75}

    bad = cli(study, "results", "--sort", "nope")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--sort nope" in bad.stderr and "score" in bad.stderr


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_images_and_text(study, tmp_path):
    done = cli(study, "plot")
    assert done.returncode == 0, done.stderr
    width, height = _png_size(study / "out" / "graph.png")
    assert width >= 600 and height >= 400
    from matplotlib.image import imread

    pixels = imread(study / "out" / "graph.png")
    from nbgraph.report.plot import COLORS

    def has_colour(hex_colour: str) -> bool:
        rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        return bool((abs(pixels[:, :, :3] - rgb).max(axis=2) < 0.02).any())

    assert has_colour(COLORS["succeeded"][0]) and has_colour(COLORS["failed"][0]) and has_colour(COLORS["skipped"][0])

    svg = tmp_path / "g.svg"
    assert cli(study, "plot", "-o", str(svg)).returncode == 0
    texts = {"".join(t.itertext()).strip() for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}text")}
    assert {"base", "a", "flaky", "after", "x (3)"} <= texts
    assert any(t.startswith("3 variants") for t in texts)

    dot = cli(study, "plot", "--format", "dot").stdout
    assert dot.startswith("digraph") and '"base" -> "a";' in dot and '"flaky" -> "after";' in dot
    assert '"flaky" [label="flaky' in dot and COLORS["failed"][0] in dot
    mermaid = cli(study, "plot", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart TD") and ":::failed" in mermaid and ":::skipped" in mermaid

    # -o with a text format writes the file (by --format or by its extension), prints nothing else
    wrote = cli(study, "plot", "--format", "dot", "-o", str(tmp_path / "g.txt"))
    assert wrote.stdout == f"wrote {tmp_path / 'g.txt'}\n" and (tmp_path / "g.txt").read_text() == dot
    assert cli(study, "plot", "-o", str(tmp_path / "g.mmd")).returncode == 0
    assert (tmp_path / "g.mmd").read_text() == mermaid

    bad = cli(study, "plot", "-o", str(tmp_path / "g.jpeg"))
    assert bad.returncode == 2 and ".png, .svg, .dot or .mmd" in bad.stderr


@pytest.mark.skipif(chromium() is None, reason="no chromium binary: apt-get install chromium (.ci/run does)")
def test_report_in_headless_chromium(study, tmp_path):
    out = tmp_path / "site"
    done = cli(study, "report", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "(5 notebooks)" in done.stdout  # after was skipped: it has no executed notebook

    browser = chromium()
    dom = browser_dom(browser, out / "index.html", tmp_path / "profile")
    assert "6 variants: 4 succeeded, 1 failed, 1 skipped, 0 never ran" in dom
    assert 'id="graph" src="graph.svg"' in dom and (out / "graph.svg").is_file()
    # the results table: one row per recorded variant, with its values
    results = dom.split('id="results"', 1)[1].split("</table>", 1)[0]
    assert results.count("<tr data-variant=") == 3
    assert "10.75" in results and "x-is-2" in results
    # every variant's status, and the error of the failed one
    variants = dom.split('id="variants"', 1)[1].split("</table>", 1)[0]
    assert 'data-variant="flaky" data-status="failed"' in variants and "broken on purpose" in variants
    assert 'data-variant="after" data-status="skipped"' in variants
    # a link to the executed notebook, rendered: open it in the browser too
    assert 'href="notebooks/a/x=2.html"' in dom
    notebook_dom = browser_dom(browser, out / "notebooks" / "a" / "x=2.html", tmp_path / "profile2")
    assert "marker-output 2" in notebook_dom and "score = 10.5" in notebook_dom


def test_clean_removes_only_what_the_yaml_dropped(study, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(study, root)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not nbgraph's")
    (root / "out" / "notes.txt").write_text("mine")
    (root / "out" / "link").symlink_to(outside)
    write_spec(root, SPEC.replace("[1, 2, 3]", "[1, 2]").split("  after:")[0])

    dry = cli(root, "clean", "--dry-run")
    assert dry.returncode == 0 and (root / "out" / "a" / "x=3").is_dir()
    assert "would remove 2 item(s)" in dry.stdout
    done = cli(root, "clean")
    assert done.returncode == 0, done.stderr
    assert not (root / "out" / "a" / "x=3").exists() and not (root / "out" / "after").exists()
    assert (root / "out" / "a" / "x=1" / "record.json").is_file() and (root / "out" / "notes.txt").is_file()
    status = json.loads(cli(root, "status", "--json").stdout)
    assert {r["name"]: r["stale"] for r in status} == {"base": False, "a[x=1]": False, "a[x=2]": False, "flaky": True}

    assert cli(root, "clean", "--all").returncode == 0
    assert list((root / "out").iterdir()) == []
    assert (outside / "keep.txt").read_text() == "not nbgraph's" and (root / "base.ipynb").is_file()

    write_spec(root, SPEC.replace("build_dir: out", "build_dir: ."))
    refused = cli(root, "clean", "--all")
    assert refused.returncode == 2 and "refusing" in refused.stderr and (root / "base.ipynb").is_file()


def test_plot_replaces_only_what_nbgraph_plot_wrote(study, tmp_path):
    """-o never overwrites a notebook, the spec or the user's own picture, unless --force."""
    work = tmp_path / "work"
    shutil.copytree(study, work)
    own_dot = work / "graph.dot"
    own_dot.write_text("digraph mine { a -> b }\n")
    from matplotlib.figure import Figure

    own_png = work / "mine.png"
    Figure().savefig(own_png)  # a PNG of the user's, made with matplotlib as nbgraph's are
    own_svg = work / "mine.svg"
    Figure().savefig(own_svg)
    theirs = {p: p.read_bytes() for p in (work / "base.ipynb", work / "inheritance.yaml", own_dot, own_png, own_svg)}
    for args in (["-o", "base.ipynb", "--format", "dot"], ["-o", "inheritance.yaml", "--format", "mermaid"],
                 ["-o", "graph.dot"], ["-o", "mine.png"], ["-o", "mine.svg"]):
        refused = cli(work, "plot", *args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert refused.stderr.count("\n") == 1 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert {p: p.read_bytes() for p in theirs} == theirs
    assert not [p for p in work.iterdir() if ".partial" in p.name]

    # its own files, it replaces: the default picture and every -o it wrote, in the same format
    for args in ([], ["-o", "g.png"], ["-o", "g.svg"], ["-o", "g.dot"], ["-o", "g.mmd"], ["--format", "dot", "-o", "g.txt"]):
        for _ in range(2):
            done = cli(work, "plot", *args)
            assert done.returncode == 0, (args, done.stderr)
    assert ET.parse(work / "g.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    other_format = cli(work, "plot", "--format", "mermaid", "-o", "g.dot")  # a dot file is not a mermaid one
    assert other_format.returncode == 2 and (work / "g.dot").read_text().startswith("digraph")

    forced = cli(work, "plot", "-o", "graph.dot", "--force")
    assert forced.returncode == 0, forced.stderr
    assert own_dot.read_text().startswith("digraph nbgraph {")


def test_report_removes_only_what_an_earlier_report_wrote(study, tmp_path):
    site = tmp_path / "site"
    (site / "notebooks" / "a").mkdir(parents=True)
    (site / "notebooks" / "a" / "mine.html").write_text("mine")
    (site / "index.html").write_text("my own page")
    refused = cli(study, "report", "-o", str(site))  # a folder of the user's: nothing in it is touched
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert str(site) in refused.stderr and "--force" in refused.stderr
    assert (site / "index.html").read_text() == "my own page" and sorted(site.rglob("*")) == sorted(
        [site / "index.html", site / "notebooks", site / "notebooks" / "a", site / "notebooks" / "a" / "mine.html"])

    forced = cli(study, "report", "-o", str(site), "--force")  # replaces its names, removes nothing
    assert forced.returncode == 0, forced.stderr
    assert "nbgraph report" in (site / "index.html").read_text() and (site / "notebooks" / "a" / "mine.html").is_file()

    # a report's own folder: written again; the user's files in it stay
    work = tmp_path / "work"
    shutil.copytree(study, work)
    out = work / "out" / "report"
    assert cli(work, "report").returncode == 0
    assert (out / "notebooks" / "a" / "x=3.html").is_file()
    (out / "notes.txt").write_text("mine")
    (out / "notebooks" / "a" / "extra.html").write_text("mine")
    write_spec(work, SPEC.replace("[1, 2, 3]", "[1, 2]"))  # a[x=3] leaves the graph: its page goes
    again = cli(work, "report")
    assert again.returncode == 0, again.stderr
    assert not (out / "notebooks" / "a" / "x=3.html").exists() and (out / "notebooks" / "a" / "x=2.html").is_file()
    assert (out / "notes.txt").read_text() == "mine" and (out / "notebooks" / "a" / "extra.html").read_text() == "mine"
    written = json.loads((out / ".nbgraph-report.json").read_text())["files"]
    assert "index.html" in written and "notebooks/a/x=2.html" in written and "notes.txt" not in written
