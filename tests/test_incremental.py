"""The stale / up-to-date matrix, through real runs of one small project.

One project goes through a sequence of edits; after each, a real run must execute
exactly the variants the edit affects, and the others must keep their records untouched.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

import nbgraph
from nbgraph.plan import make_plan
from nbgraph.spec import load_spec

from conftest import outputs_of

pytestmark = pytest.mark.slow  # every test here runs real kernels

SPEC = """
notebooks:
  base:
    path: base.ipynb
  a:
    path: a.ipynb
    parent: base
    grid: {{x: {xs}}}
  flaky:
    path: flaky.ipynb
    parent: base
{extra}
"""
CHILD_B = """
  b:
    path: b.ipynb
    parent: base
    params: {{k: {k}}}
"""


def _write_spec(project, xs="[1, 2]", b_k=None):
    extra = CHILD_B.format(k=b_k) if b_k is not None else ""
    project.spec(SPEC.format(xs=xs, extra=extra))


def _run(project, **kw):
    result = nbgraph.run(project.root / "inheritance.yaml", jobs=2, **kw)
    executed = {n for n, o in result.outcome.items() if o in ("succeeded", "failed")}
    return result, executed


def _reasons(project):
    plan = make_plan(load_spec(project.root / "inheritance.yaml"))
    return {p.variant.name: p.decision.reason for p in plan.items if p.decision.stale}


def _finished(project):
    out = {}
    for record in project.root.glob("build/*/*/record.json"):
        data = json.loads(record.read_text())
        out[data["name"]] = data["finished"]
    return out


def _drawn(path):
    """The random number a notebook printed (``r=0.123...``)."""
    text = "".join(outputs_of(path))
    return float(re.search(r"r=([0-9.e-]+)", text).group(1))


def test_only_what_changed_runs(project):
    project.notebook("base.ipynb", "import random\nr = random.random()\nprint(f'base r={r}')")
    project.notebook("a.ipynb", "import nbgraph\nnbgraph.record('score', x * r)\nprint(f'a r={r}')", parameters="x = 0")
    project.notebook("flaky.ipynb", "import os\nif os.path.exists('fail.flag'):\n    raise RuntimeError('flag is set')")
    project.notebook("b.ipynb", "print(f'b r={r} k={k}')", parameters="k = 0")
    (project.root / "fail.flag").write_text("")
    _write_spec(project)

    # first run: everything; flaky fails
    result, executed = _run(project)
    assert executed == {"base", "a[x=1]", "a[x=2]", "flaky"}
    assert result.outcome["flaky"] == "failed"
    base_out = project.root / "build/base/default/base.ipynb"
    r0 = _drawn(base_out)
    rec = json.loads((project.root / "build/a/x=2/record.json").read_text())
    assert rec["results"] == {"score": 2 * r0}
    assert json.loads((project.root / "build/a/x=2/results.json").read_text()) == {"score": 2 * r0}

    # a failed variant runs again next time, and only it
    (project.root / "fail.flag").unlink()
    assert _reasons(project) == {"flaky": "failed last time"}
    before = _finished(project)
    result, executed = _run(project)
    assert executed == {"flaky"} and result.outcome["flaky"] == "succeeded"
    assert {n: t for n, t in _finished(project).items() if n != "flaky"} == {n: t for n, t in before.items() if n != "flaky"}

    # nothing changed (outputs and metadata edited in the source notebook do not count): nothing runs
    nb = nbformat.read(project.root / "base.ipynb", as_version=4)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="stale output\n")]
    nb.cells[0].execution_count = 7
    nb.metadata["something"] = {"edited": True}
    nbformat.write(nb, project.root / "base.ipynb")
    assert _reasons(project) == {}
    before = _finished(project)
    dry = project.cli("run", "--dry-run")
    assert dry.returncode == 0 and "0 of 4 variants would run" in dry.stdout
    result, executed = _run(project)
    assert executed == set() and set(result.names("up to date")) == set(before)
    assert _finished(project) == before

    # a child added: only it runs, and it sees the parent's old state (not a new random draw)
    _write_spec(project, b_k=1)
    assert _reasons(project) == {"b": "never ran"}
    result, executed = _run(project)
    assert executed == {"b"}
    b_text = "".join(outputs_of(project.root / "build/b/default/b.ipynb"))
    assert f"b r={r0} k=1" in b_text
    assert _finished(project)["base"] == before["base"]

    # a parameter changed: only the variants it affects
    _write_spec(project, xs="[1, 3]", b_k=2)
    assert _reasons(project) == {"a[x=3]": "never ran", "b": "parameters changed"}
    status = json.loads(project.cli("status", "--json").stdout)
    assert {row["name"]: (row["stale"], row["reason"]) for row in status}["b"] == (True, "parameters changed")
    result, executed = _run(project)
    assert executed == {"a[x=3]", "b"}

    # the parent's code edited: the parent and its whole subtree
    nb = nbformat.read(project.root / "base.ipynb", as_version=4)
    nb.cells[0].source += "\nprint('edited')"
    nbformat.write(nb, project.root / "base.ipynb")
    reasons = _reasons(project)
    assert reasons.pop("base") == "code changed"
    assert reasons == {n: "parent base will re-run" for n in ("a[x=1]", "a[x=3]", "flaky", "b")}
    result, executed = _run(project)
    assert executed == {"base", "a[x=1]", "a[x=3]", "flaky", "b"}
    assert _drawn(base_out) != r0

    # --only with --force: that node's variants, nothing else
    result, executed = _run(project, only=["a"], force=True)
    assert executed == {"a[x=1]", "a[x=3]"}
    assert _reasons(project) == {}

    # a parent re-ran on its own (--only): its children are stale because of it
    result, executed = _run(project, only=["base"], force=True)
    assert executed == {"base"}
    assert _reasons(project) == {n: "parent re-ran" for n in ("a[x=1]", "a[x=3]", "flaky", "b")}
