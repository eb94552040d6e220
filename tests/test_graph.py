"""Grid expansion into the run graph: counts, stable readable names, lineage identity."""

from __future__ import annotations

from nbgraph.graph import find_variants, run_graph, variants_of
from nbgraph.spec import load_spec


def test_child_runs_for_every_parent_variant_times_its_own_grid(project):
    for n in ("load", "feat", "train"):
        project.notebook(f"{n}.ipynb", "pass")
    spec = load_spec(project.spec("""
        notebooks:
          load: {path: load.ipynb, params: {rows: 10}}
          feat: {path: feat.ipynb, parent: load, grid: {scaler: [standard, minmax]}}
          train: {path: train.ipynb, parent: feat, grid: {model: [ridge, forest], alpha: [0.1, 1.0]}}
    """))
    rg = run_graph(spec)
    names = [v.name for v in variants_of(rg)]
    assert len(names) == 1 + 2 + 8
    assert "train[scaler=minmax,model=ridge,alpha=0.1]" in names
    v = rg.nodes["train[scaler=minmax,model=ridge,alpha=0.1]"]["variant"]
    assert v.parents == ("feat[scaler=minmax]",)
    assert v.own_params == {"model": "ridge", "alpha": 0.1}
    assert v.params == {"rows": 10, "scaler": "minmax", "model": "ridge", "alpha": 0.1}
    assert v.slug == "scaler=minmax,model=ridge,alpha=0.1"
    assert names == [v.name for v in variants_of(run_graph(spec))]  # stable
    assert len(find_variants(rg, "train[model=ridge]")) == 4
    assert [x.name for x in find_variants(rg, "train[scaler=minmax,model=ridge,alpha=0.1]")] == [v.name]


def test_mixins_combine_only_variants_that_share_an_ancestor_variant(project):
    for n in ("base", "left", "right", "both"):
        project.notebook(f"{n}.ipynb", "pass")
    spec = load_spec(project.spec("""
        notebooks:
          base: {path: base.ipynb, grid: {seed: [1, 2]}}
          left: {path: left.ipynb, parent: base, grid: {l: [a, b]}}
          right: {path: right.ipynb, parent: base}
          both: {path: both.ipynb, parents: [left, right]}
    """))
    rg = run_graph(spec)
    both = [v for v in variants_of(rg) if v.node == "both"]
    assert len(both) == 4  # 2 seeds x 2 l, never seed=1 mixed with seed=2
    for v in both:
        seed = dict(v.identity)["seed"]
        assert v.parents == (f"left[seed={seed},l={dict(v.identity)['l']}]", f"right[seed={seed}]")


def test_odd_values_make_safe_folder_names(project):
    project.notebook("a.ipynb", "pass")
    spec = load_spec(project.spec("""
        notebooks:
          a: {path: a.ipynb, grid: {path: ["x/y", "../z"], cfg: [{k: 1}]}}
    """))
    slugs = {v.slug for v in variants_of(run_graph(spec))}
    assert len(slugs) == 2
    assert all("/" not in s for s in slugs)
