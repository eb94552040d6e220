"""Issue 14.1: ``grid:`` as a list of mappings, the union of their products (per-model hyperparameters)."""

from __future__ import annotations

import json

import pytest

from conftest import outputs_of

from nbgraph.errors import SpecError
from nbgraph.graph import find_variants, run_graph, variants_of
from nbgraph.spec import load_spec

PER_MODEL = """
    notebooks:
      load: {path: load.ipynb, grid: {scaler: [standard, minmax]}}
      train:
        path: train.ipynb
        parent: load
        params: {seed: 0}
        grid:
          - {model: [svm], C: [0.1, 1]}
          - {model: [forest], max_depth: [3, 5, 7]}
      score: {path: score.ipynb, parent: train}
"""


@pytest.fixture
def nbs(project):
    for name in ("load", "train", "score", "left", "right", "both"):
        project.notebook(f"{name}.ipynb", "pass")
    return project


def test_a_list_grid_is_the_union_of_its_mappings_products(nbs):
    rg = run_graph(load_spec(nbs.spec(PER_MODEL)))
    train = [v for v in variants_of(rg) if v.node == "train"]
    assert [v.name for v in train[:5]] == [
        "train[scaler=standard,model=svm,C=0.1]", "train[scaler=standard,model=svm,C=1]",
        "train[scaler=standard,model=forest,max_depth=3]", "train[scaler=standard,model=forest,max_depth=5]",
        "train[scaler=standard,model=forest,max_depth=7]"]
    assert len(train) == 2 * 5
    svm, forest = train[0], train[2]
    assert svm.own_params == {"seed": 0, "model": "svm", "C": 0.1}  # only its own mapping's parameters
    assert forest.own_params == {"seed": 0, "model": "forest", "max_depth": 3}
    assert forest.slug == "scaler=standard,model=forest,max_depth=3" and forest.parents == ("load[scaler=standard]",)
    score = [v for v in variants_of(rg) if v.node == "score"]  # a child: every parent variant once
    assert [v.parents for v in score] == [(v.name,) for v in train]
    assert len(find_variants(rg, "train[model=forest]")) == 6
    assert len({v.slug for v in train}) == len(train)


def test_an_empty_mapping_is_one_variant_with_the_notebooks_own_values(nbs):
    spec = load_spec(nbs.spec("""
        notebooks:
          train: {path: train.ipynb, grid: [{}, {model: [svm]}]}
          score: {path: score.ipynb, parent: train, grid: [{C: [1]}, {}]}
    """))
    rg = run_graph(spec)
    names = [v.name for v in variants_of(rg)]
    assert names == ["train", "train[model=svm]", "score[C=1]", "score", "score[model=svm,C=1]",
                     "score[model=svm]"]
    default = rg.nodes["train"]["variant"]
    assert default.own_params == {} and default.slug == "default"
    assert find_variants(rg, "train") == [default]  # the exact name wins over the node's other variants


def test_mixins_combine_only_variants_of_one_ancestor_variant(nbs):
    """With a list grid, parents agreeing on the values both carry may still come from two base variants."""
    spec = load_spec(nbs.spec("""
        notebooks:
          base: {path: train.ipynb, grid: [{model: [svm]}, {model: [svm], C: [1, 2]}]}
          left: {path: left.ipynb, parent: base}
          right: {path: right.ipynb, parent: base, grid: {side: [r]}}
          both: {path: both.ipynb, parents: [left, right]}
    """))
    both = [v for v in variants_of(run_graph(spec)) if v.node == "both"]
    assert [(v.name, v.parents) for v in both] == [
        ("both[model=svm,side=r]", ("left[model=svm]", "right[model=svm,side=r]")),
        ("both[model=svm,C=1,side=r]", ("left[model=svm,C=1]", "right[model=svm,C=1,side=r]")),
        ("both[model=svm,C=2,side=r]", ("left[model=svm,C=2]", "right[model=svm,C=2,side=r]"))]


def test_two_parent_combinations_that_one_name_would_hide_are_refused(nbs):
    """Sibling parents may share a grid key; where a list grid leaves it out, two combinations meet in one name."""
    spec = nbs.spec("""
        notebooks:
          left: {path: left.ipynb, grid: [{p: [1]}, {}]}
          right: {path: right.ipynb, grid: [{p: [1]}, {}]}
          both: {path: both.ipynb, parents: [left, right]}
    """)
    with pytest.raises(SpecError) as info:
        run_graph(load_spec(spec))
    message = str(info.value)
    assert ":4: node 'both', field 'parents': two combinations of parent variants" in message
    assert "would both make both[p=1]" in message and "\n" not in message


CASES = {
    "values not a list": ("[{model: [svm]}, {model: [forest], max_depth: 3}]", "grid[1].max_depth", 5,
                          "values of 'max_depth' must be a list"),
    "item not a mapping": ("[{model: [svm]}, forest]", "grid[1]", 5, "must be a mapping of parameter"),
    "empty list": ("[]", "grid", 5, "is an empty list; give at least one mapping"),
    "bad parameter name": ("[{model: [svm]}, {max depth: [3]}]", "grid[1].max depth", 5, "must be a Python identifier"),
    "repeated value": ("[{C: [1, 1]}]", "grid[0].C", 5, "repeat a value"),
    "same point twice, keys reordered": ("[{model: [svm], C: [1]}, {C: [2, 1], model: [svm]}]", "grid[1]", 5,
                                         "gives the variant with model=svm,C=1 that grid[0] (line 5) gives too"),
    "two empty mappings": ("[{}, {model: [a]}, {}]", "grid[2]", 5, "with no parameters of its own"),
    "quotes only": ("[{C: [1]}, {C: ['1']}]", "grid[1]", 5, "told apart only by quotes"),
    "both params and grid": ("[{model: [svm]}, {seed: [1]}]", "grid[1].seed", 5, "'seed' is both in params and in grid"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_validation_names_the_list_item_and_key(nbs, case):
    grid, field, line, fragment = CASES[case]
    spec = nbs.spec(f"notebooks:\n  train:\n    path: train.ipynb\n    params: {{seed: 0}}\n    grid: {grid}\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    error = info.value
    assert (error.node, error.field, error.line) == ("train", field, line), str(error)
    assert fragment in str(error) and "\n" not in str(error)
    assert str(error).startswith(f"{spec}:{line}: node 'train', field '{field}': ")


def test_a_block_list_grid_points_at_the_line_of_each_item_and_key(nbs):
    spec = nbs.spec("""
        notebooks:
          train:
            path: train.ipynb
            grid:
              - model: [svm]
                C: [0.1, 1]
              - model: [forest]
                max_depth: [3, x, 3]
    """)
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert str(info.value).startswith(f"{spec}:8: node 'train', field 'grid[1].max_depth': values of 'max_depth' repeat")
    (nbs.root / "inheritance.yaml").write_text(spec.read_text().replace("[3, x, 3]", "[3]") + "      - {model: [svm]}\n"
                                               "      - {C: [1], model: [svm]}\n")
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert str(info.value).startswith(f"{spec}:10: node 'train', field 'grid[3]': gives the variant with model=svm,C=1 "
                                      "that grid[0] (line 5) gives too")


def test_add_takes_a_list_grid_and_fixed_params(nbs):
    spec = nbs.spec("notebooks:\n  load: {path: load.ipynb}\n")
    done = nbs.cli("add", "models.ipynb", "--parent", "load", "--params", "seed=0", "--params", "cols=[a, b]",
                   "--grid", "[{model: [svm], C: [0.1, 1]}, {model: [forest], max_depth: [3, 5, 7]}]")
    assert done.returncode == 0, done.stderr
    assert spec.read_text().endswith("  models:\n    path: models.ipynb\n    parent: load\n"
                                     "    params: {seed: 0, cols: [a, b]}\n"
                                     "    grid: [{model: [svm], C: [0.1, 1]}, {model: [forest], max_depth: [3, 5, 7]}]\n")
    node = load_spec(spec).nodes["models"]
    assert node.params == {"seed": 0, "cols": ["a", "b"]} and node.grid_keys == ("model", "C", "max_depth")
    cells = json.loads((nbs.root / "models.ipynb").read_text())["cells"]
    assert "".join(cells[2]["source"]) == "seed = 0\ncols = ['a', 'b']\nmodel = 'svm'\nC = 0.1\nmax_depth = 3"
    before = spec.read_text()
    for args, fragment in [(["--grid", "[{model: [svm], C: 1}]"], "field 'grid[0].C': values of 'C' must be a list"),
                           (["--grid", "[{model: [svm]}]", "--grid", "a=1"], "is the only --grid"),
                           (["--grid", "[{model: [svm]"], "not readable as YAML"),
                           (["--params", "x"], "--params x: expected NAME=VALUE"),
                           (["--params", "x=1", "--grid", "x=1,2"], "'x' is both in params and in grid")]:
        refused = nbs.cli("add", "more.ipynb", "--parent", "load", *args)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert fragment in refused.stderr
        assert spec.read_text() == before and not (nbs.root / "more.ipynb").exists()


def test_plot_shows_each_mapping_of_a_list_grid(nbs):
    from nbgraph.plan import make_plan
    from nbgraph.report.plot import to_dot, summarize

    summaries = {s.name: s for s in summarize(make_plan(load_spec(nbs.spec(PER_MODEL))))}
    assert summaries["train"].grid_text() == "model=svm × C (2) | model=forest × max_depth (3)"
    assert summaries["load"].grid_text() == "scaler (2)"
    assert "10 variants" in to_dot(list(summaries.values()))


@pytest.mark.slow
def test_each_variant_runs_with_only_its_own_mappings_parameters(project):
    project.notebook("train.ipynb", "print(model, C, max_depth)", parameters="model = 'none'\nC = None\nmax_depth = None")
    project.spec("""
        notebooks:
          train:
            path: train.ipynb
            grid: [{model: [svm], C: [0.5]}, {model: [forest], max_depth: [3]}]
    """)
    done = project.cli("run")
    assert done.returncode == 0, done.stderr
    build = project.root / "build" / "train"
    assert "svm 0.5 None\n" in outputs_of(build / "model=svm,C=0.5" / "train.ipynb")
    assert "forest None 3\n" in outputs_of(build / "model=forest,max_depth=3" / "train.ipynb")


def test_the_readmes_per_model_example_gives_what_it_says(nbs):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Grids per model\n", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0].replace("pipelines/study/", "")
    spec = nbs.spec("notebooks:\n  features: {path: load.ipynb, grid: {scaler: [standard, minmax]}}\n" + example)
    train = [v for v in variants_of(run_graph(load_spec(spec))) if v.node == "train"]
    assert len(train) == 2 * 5
    for name in ("train[scaler=minmax,model=svm,C=0.1]", "train[scaler=minmax,model=forest,max_depth=3]"):
        assert f"`{name}`" in section and name in {v.name for v in train}
    assert "`build/train/scaler=minmax,model=forest,max_depth=3/`" in section
    assert "scaler=minmax,model=forest,max_depth=3" in {v.slug for v in train}
