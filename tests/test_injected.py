"""The code nbgraph injects into kernels: values arrive intact and run nothing; no user name is used.

Real runs: a parent with grid values and a child that records what it inherited, in real kernels.
"""

from __future__ import annotations

import json
import math
import random

import pytest
import yaml

from conftest import write_notebook
from nbgraph import runner

RECORD_P = "import nbgraph\nnbgraph.record('p', repr(p))"


def write_yaml_spec(folder, notebooks: dict) -> None:
    """The spec as YAML that loads back to exactly ``notebooks`` (checked: NUL, CR, U+2028 included)."""
    text = yaml.safe_dump({"notebooks": notebooks}, sort_keys=False)  # escapes what YAML would fold
    assert repr(yaml.safe_load(text)["notebooks"]) == repr(notebooks)
    (folder / "inheritance.yaml").write_text(text, encoding="utf-8")


def breakouts(canary) -> list[str]:
    """Values that would create ``canary`` if nbgraph pasted them into code or a comment."""
    run = f"open({str(canary)!r}, 'w').write('ran')"
    return [f"x\n{run}\n#", f"'''\n{run}\n'''", f'"""\n{run}\n"""', f"\\\n{run}", f"\u2028!touch {canary}",
            f"\r%system touch {canary}"]


@pytest.mark.slow
def test_a_grid_value_cannot_run_code_in_the_children(project):
    """Issue 10, item 1: a newline ended the comment of the loading cell; NUL and triple quotes broke it."""
    canary = project.root / "INJECTED"
    values = [f"x\nopen({str(canary)!r}, 'w').write('ran')\n#", "a\0b", 'q"""q', "e\U0001F600"]
    project.notebook("base.ipynb", "x = 1", parameters="p = 'default'")
    project.notebook("child.ipynb", RECORD_P)
    write_yaml_spec(project.root, {"base": {"path": "base.ipynb", "grid": {"p": values}},
                                   "child": {"path": "child.ipynb", "parent": "base"}})
    proc = project.cli("run")
    assert not canary.exists(), "a grid value ran as code"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(project.cli("results", "--format", "json").stdout)
    assert sorted(r["results"]["p"] for r in rows if r["node"] == "child") == sorted(repr(v) for v in values)


@pytest.mark.slow
@pytest.mark.parametrize("fork", [False, True], ids=["fresh", "forked"])
def test_injected_cells_need_no_name_of_the_user_namespace(tmp_path, fork):
    """Issue 10, item 11: a notebook rebinding builtins the injected cells used broke them."""
    write_notebook(tmp_path / "base.ipynb", "x = 41\nglobals = {'a': 1}\nprint = lambda *a, **k: None\n"
                                            "open = None\n__import__ = None\nfloat = str")
    write_notebook(tmp_path / "child.ipynb", "import sys, nbgraph\nnbgraph.record('seen', repr((x, q, globals)))\n"
                   "nbgraph.record('left', [n for n in get_ipython().user_ns if 'nbgraph' in n and n != 'nbgraph'])\n"
                   "nbgraph.record('forked', 'nbgraph.kernels.fork.child' in sys.modules)", parameters="q = 0")
    write_notebook(tmp_path / "grandchild.ipynb", "import nbgraph\nnbgraph.record('x', x)")
    write_yaml_spec(tmp_path, {"base": {"path": "base.ipynb"},
                               "child": {"path": "child.ipynb", "parent": "base", "grid": {"q": [math.nan]}},
                               "grandchild": {"path": "grandchild.ipynb", "parent": "child"}})
    result = runner.run(tmp_path / "inheritance.yaml", fork=fork)
    assert result.ok, {n: r.error for n, r in result.records.items()}
    child = result.records["child[q=NaN]"].results
    assert child["seen"] == "(41, nan, {'a': 1})"  # NaN, not the inherited float('nan') == 'nan'
    assert child["left"] == [] and child["forked"] is fork
    assert result.records["grandchild[q=NaN]"].results == {"x": 41}


PIECES = ["\n", "\r", "\r\n", "\0", "\t", "'", '"', '"""', "'''", "\\", "\\n", "\\'", ",", "=", "[", "]", "{", "}",
          "/", "..", "../", "\\..\\", " ", "#", "%", "!", "?", ";", "$", "`", "é", "😀", "中", "\u2028", "\u202e",
          "\x85", "\x0c", "\ufeff", "x", "ab"]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))


@pytest.mark.slow
def test_random_values_reach_the_child_exactly_and_run_nothing(tmp_path):
    """Property test: random values (grid of the parent, parameters of both) arrive exactly.

    Only strings are grid values, distinct, so that the variants' names (and folders) differ
    with today's naming too (it writes a string and the number it spells, e.g. "1" and 1, alike).
    """
    rng = random.Random(101)
    canary = tmp_path / "canary"
    grid = list(dict.fromkeys(breakouts(canary)[:3] + [random_text(rng) for _ in range(3)]))
    many = [random_text(rng) for _ in range(30)] + breakouts(canary) + [
        math.nan, math.inf, -math.inf, -0.0, 1e308, 2**70, True, None, [], {}, {"1": "a", "2": [None, False, 2.5]},
        {"k": {"": "v"}}]
    own = [{random_text(rng): random_text(rng) for _ in range(10)}, math.nan, {"3": "c"}]  # keys are strings: validate refuses others
    # papermill wrote NaN as float('nan'), which calls the float the child inherited
    write_notebook(tmp_path / "base.ipynb", RECORD_P, "float = str", parameters="p = ''\nmany = []")
    write_notebook(tmp_path / "child.ipynb", "import nbgraph\nnbgraph.record('seen', repr((p, many, own)))",
                   parameters="own = None")
    write_yaml_spec(tmp_path, {"base": {"path": "base.ipynb", "grid": {"p": grid}, "params": {"many": many}},
                               "child": {"path": "child.ipynb", "parent": "base", "params": {"own": own}}})
    result = runner.run(tmp_path / "inheritance.yaml", jobs=2)
    assert result.ok, {n: r.error for n, r in result.records.items()}
    assert not canary.exists(), "a value ran as code"
    records = result.records.values()
    assert sorted(r.results["p"] for r in records if r.node == "base") == sorted(repr(v) for v in grid)
    assert sorted(r.results["seen"] for r in records if r.node == "child") == \
        sorted(repr((v, many, own)) for v in grid)


def test_literal_writes_plain_data_only():
    from nbgraph import kernelcode as cells

    for value in ["a\n\0'\"\\\u2028😀", -0.0, math.inf, 2**70, (1,), (), {None: [True, 1.5]}]:
        source = cells.literal(value)
        assert source.isprintable() and repr(eval(source, {"__builtins__": {}})) == repr(value)
    assert math.isnan(eval(cells.literal(math.nan), {"__builtins__": {}}))

    class Sneaky(str):
        def __repr__(self):
            return "__import__('os').system('true')"

    assert cells.literal(Sneaky("x")) == "'x'"
    for bad in [b"bytes", {1, 2}, object()]:
        with pytest.raises(cells.UnwritableValue, match="plain data"):
            cells.literal(bad)
    with pytest.raises(cells.UnwritableValue, match="not a Python name"):
        cells.parameters({"p\n": 1})
    with pytest.raises(cells.UnwritableValue, match="printable"):
        cells.comment("a\nb")
