"""inherit_from(variant, spec=...): the state a graph variant started from in the last run."""

from __future__ import annotations

import pytest

from nbgraph import inherit_from, run
from nbgraph.errors import SelectionError, SnapshotError

SPEC = """
    notebooks:
      load: {path: load.ipynb}
      extra: {path: extra.ipynb}
      train:
        path: train.ipynb
        parents: [load, extra]
        grid: {model: [ridge, forest], alpha: [0.1, 1.0]}
"""


@pytest.fixture
def study(project):
    project.notebook("load.ipynb", "rows = [1, 2, 3]\nshared = 'load'")
    project.notebook("extra.ipynb", "shared = 'extra'")
    project.notebook("train.ipynb", "assert model != 'forest' or alpha != 1.0, 'boom'", parameters="model = 'x'\nalpha = 0.0")
    project.spec(SPEC)
    return project


@pytest.mark.slow
def test_loads_the_parents_snapshots_and_the_variant_parameters(study):
    result = run(study.root / "inheritance.yaml", only=["load", "extra"])
    assert result.ok
    ns: dict = {"rows": "mine"}
    summary = inherit_from("train[model=forest,alpha=1.0]", spec=study.root / "inheritance.yaml", into=ns)
    assert ns == {"rows": [1, 2, 3], "shared": "extra", "model": "forest", "alpha": 1.0}
    assert [s.name for s in summary.sources] == ["load", "extra"]
    assert summary.collisions == {"shared": ["load", "extra"]}
    assert summary.params == {"model": "forest", "alpha": 1.0} and summary.replaced == ["rows"]
    assert summary.notes == ["train[model=forest,alpha=1.0] has not run yet: this is the state its parents have now"]
    assert "parameters (set after the state, as in the run): model='forest', alpha=1.0" in repr(summary)


@pytest.mark.slow
def test_after_a_failed_run_and_when_a_parent_changed_since(study):
    result = run(study.root / "inheritance.yaml")
    assert result.outcome["train[model=forest,alpha=1.0]"] == "failed"
    spec = study.root / "inheritance.yaml"
    ns: dict = {}
    summary = inherit_from("train[alpha=1.0,model=forest]", spec=spec, into=ns)  # any order of grid values
    assert ns["shared"] == "extra" and not summary.notes
    study.notebook("load.ipynb", "rows = [4]\nshared = 'load'")
    run(spec, only=["load"])
    ns = {}
    summary = inherit_from("train[model=forest,alpha=1.0]", spec=spec, into=ns)
    assert ns["rows"] == [4]
    assert summary.notes == ["load has changed since train[model=forest,alpha=1.0] last ran: this is its newer state"]


def test_names_that_do_not_designate_one_variant(study):
    spec = study.root / "inheritance.yaml"
    with pytest.raises(SelectionError, match=r"^train\[model=ridge\] matches 2 variants: "
                                             r"train\[model=ridge,alpha=0.1\], train\[model=ridge,alpha=1.0\]; "):
        inherit_from("train[model=ridge]", spec=spec, into={})
    with pytest.raises(SelectionError, match=r"^nope: no such node or variant in inheritance.yaml \(nodes: load, extra, train\)"):
        inherit_from("nope", spec=spec, into={})
    with pytest.raises(SelectionError, match="load has no parent in inheritance.yaml: it starts from an empty kernel"):
        inherit_from("load", spec=spec, into={})
    with pytest.raises(SnapshotError, match=r"load \(parent of train\[model=ridge,alpha=0.1\]\) has no snapshot \(never ran\)"):
        inherit_from("train[model=ridge,alpha=0.1]", spec=spec, into={})


def test_under_nbgraph_run_the_call_does_nothing(monkeypatch):
    from nbgraph.notebook import inject

    monkeypatch.setattr(inject, "INJECTED", ["load[scale=2]"])
    summary = inherit_from("anything.ipynb")
    assert summary.injected_by == ["load[scale=2]"] and len(summary) == 0
    assert repr(summary) == "nbgraph: state already injected by nbgraph run from load[scale=2]; inherit_from did nothing"


@pytest.mark.slow
def test_a_root_node_calling_inherit_from_under_nbgraph_run_is_told_to_declare_its_parent(project):
    project.notebook("solo.ipynb", "from nbgraph import inherit_from\ninherit_from('base.ipynb')")
    project.spec("notebooks:\n  solo: {path: solo.ipynb}\n")
    result = run(project.root / "inheritance.yaml")
    error = result.records["solo"].error
    assert error.startswith("SelectionError: this notebook runs under nbgraph run as a node without parents"), error
    assert "declare its parent in inheritance.yaml" in error


@pytest.mark.slow
def test_replay_from_a_build_on_s3_on_another_machine(project, s3, monkeypatch, tmp_path):
    endpoint, _ = s3
    project.notebook("load.ipynb", "rows = [1, 2, 3]")
    project.notebook("train.ipynb", "print(sum(rows) * k)", parameters="k = 0")
    spec = project.spec(f"""
        build_dir: s3://nbgraph-builds/replay
        storage_options: {{endpoint_url: "{endpoint}"}}
        notebooks:
          load: {{path: load.ipynb}}
          train: {{path: train.ipynb, parent: load, grid: {{k: [1, 2]}}}}
    """)
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "machine-a"))
    assert run(spec).ok
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "machine-b"))  # nothing local here
    ns: dict = {}
    summary = inherit_from("train[k=2]", spec=spec, into=ns)
    assert ns == {"rows": [1, 2, 3], "k": 2} and not summary.notes
    assert str(tmp_path / "machine-b") in summary.sources[0].snapshot
