"""Grid expansion into the run graph: counts, stable readable names, lineage identity."""

from __future__ import annotations

import json

import pytest

from conftest import outputs_of

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


def test_grid_values_holding_the_name_syntax_keep_every_point_apart(project):
    """Issue 10: p: ["1,q=2", 1] x q: [3, "2,q=3"] named 3 variants for 4 points."""
    project.notebook("a.ipynb", "pass")
    spec = load_spec(project.spec("""
        notebooks:
          a: {path: a.ipynb, grid: {p: ["1,q=2", 1], q: [3, "2,q=3"]}}
    """))
    rg = run_graph(spec)
    variants = variants_of(rg)
    assert len(variants) == 4 and len({v.slug for v in variants}) == 4
    assert 'a[p="1,q=2",q="2,q=3"]' in rg and "a[p=1,q=3]" in rg
    for v in variants:
        assert find_variants(rg, v.name) == [v]
    assert [v.name for v in find_variants(rg, 'a[q="2,q=3",p=1]')] == ['a[p=1,q="2,q=3"]']
    assert len(find_variants(rg, 'a[p="1,q=2"]')) == 2
    assert rg.nodes['a[p="1,q=2",q=3]']["variant"].slug == "p=%221%2Cq%3D2%22,q=3"


def test_a_value_cannot_forge_the_hashed_folder_of_another(project):
    """Issue 10: 'a/b' was folder p=a_b-cd83076d3d, which the value 'a_b-cd83076d3d' also got."""
    project.notebook("a.ipynb", "pass")
    project.notebook("b.ipynb", "pass")
    long = "x" * 120
    hashed = variants_of(run_graph(load_spec(project.spec(f"""
        notebooks:
          b: {{path: b.ipynb, grid: {{p: [{long}]}}}}
    """))))[0].slug
    assert len(hashed) == 91 and hashed.startswith("p=xxx")
    spec = load_spec(project.spec(f"""
        notebooks:
          a: {{path: a.ipynb, grid: {{p: ["a/b", "a_b-cd83076d3d"]}}}}
          b: {{path: b.ipynb, grid: {{p: [{long}, "{hashed[2:]}"]}}}}
    """))
    slugs = {v.name: v.slug for v in variants_of(run_graph(spec))}
    assert slugs["a[p=a/b]"] == "p=a%2Fb" and slugs["a[p=a_b-cd83076d3d]"] == "p=a_b-cd83076d3d"
    assert slugs[f"b[p={long}]"] == hashed != slugs[f"b[p={hashed[2:]}]"]


@pytest.mark.slow
def test_variants_whose_folders_once_met_each_run_into_their_own(project):
    """Issue 10: with one folder for two variants, one stayed 'pending' for ever."""
    project.notebook("a.ipynb", "print('value', p)", parameters="p = None")
    project.spec("""
        notebooks:
          a: {path: a.ipynb, grid: {p: ["a/b", "a_b-cd83076d3d"]}}
    """)
    proc = project.cli("run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    assert {n: r["status"] for n, r in rows.items()} == {"a[p=a/b]": "succeeded", "a[p=a_b-cd83076d3d]": "succeeded"}
    assert not any(r["stale"] for r in rows.values())
    assert "value a/b\n" in outputs_of(project.root / "build/a/p=a%2Fb/a.ipynb")
    assert "value a_b-cd83076d3d\n" in outputs_of(project.root / "build/a/p=a_b-cd83076d3d/a.ipynb")
