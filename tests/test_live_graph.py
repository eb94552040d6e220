"""Live kernels in graph runs: attach: true parents, one notebook in two homes, replaying a variant.

A real jupyter server holds the live notebooks; ``nbgraph run`` drives real papermill
kernels for the rest.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from conftest import outputs_of, run_cli, write_notebook, write_spec
from jupyter_live import live_server
from nbgraph import run
from nbgraph.errors import LiveError, ParentRaised, SpecError
from nbgraph.plan import make_plan
from nbgraph.report.status import status_rows
from nbgraph.spec import load_spec


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("jupyter")) as server:
        yield server


def _summary(result) -> str:
    import io

    from rich.console import Console

    from nbgraph.report.terminal import print_summary

    out = io.StringIO()
    print_summary(Console(file=out, width=300), result)
    return out.getvalue()


@pytest.mark.slow
def test_attached_parent_is_snapshotted_from_its_live_kernel(jupyter):
    study = jupyter.root / "attach"
    write_notebook(study / "notes.ipynb", "data = ['never executed by nbgraph']")
    write_notebook(study / "child.ipynb", "print('sum', sum(data) * scale)", parameters="scale = 1")
    spec = write_spec(study, """
        notebooks:
          notes: {path: notes.ipynb, attach: true, exclude: [scratch]}
          child: {path: child.ipynb, parent: notes, grid: {scale: [1, 2]}}
    """)
    live = jupyter.open("attach/notes.ipynb", "data = [1, 2, 3]\nscratch = 'not passed down'",
                        "rows = (r for r in data)")
    before = live.namespace()

    first = run(spec)
    assert first.outcome == {"notes": "attached", "child[scale=1]": "succeeded", "child[scale=2]": "succeeded"}
    record = first.records["notes"]
    assert record.attached["kernel"] == live.kernel_id
    assert record.attached["server"] == jupyter.url and record.attached["notebook"] == "attach/notes.ipynb"
    assert record.attached["execution_count"] == 2
    assert record.output is None and [s["name"] for s in record.skipped] == ["rows"]
    assert "scratch" not in record.attached["variables"]
    assert "sum 12\n" in outputs_of(first.records["child[scale=2]"].output)
    assert first.attached[0].changed
    assert live.namespace() == before  # the live kernel is exactly as it was
    for path in (study / "build").rglob("*"):  # the server's token is never written
        assert not path.is_file() or jupyter.token.encode() not in path.read_bytes(), path

    second = run(spec)  # same live state: re-snapshotted, same digest, children up to date
    assert second.outcome == {"notes": "attached", "child[scale=1]": "up to date", "child[scale=2]": "up to date"}
    assert not second.attached[0].changed and second.records["notes"].snapshot == record.snapshot
    assert "not passed down by notes: rows (generator)" in _summary(first)
    assert "not passed down" not in _summary(second)  # said once: the live state did not change

    live.run("data.append(4)")
    third = run(spec)  # the live state changed: the children re-run on it
    assert third.outcome["child[scale=1]"] == "succeeded" and third.attached[0].changed
    assert "sum 10\n" in outputs_of(third.records["child[scale=1]"].output)
    assert third.records["notes"].attached["execution_count"] == 3

    rows = {row["name"]: row for row in status_rows(make_plan(load_spec(spec)))}
    assert rows["notes"]["attached"]["kernel"] == live.kernel_id
    assert rows["notes"]["reason"].startswith("attached: re-snapshotted from its live kernel on every run")
    assert not rows["child[scale=1]"]["stale"]

    live.run("data.append(5)")
    fourth = run(spec, only=["child"])  # the attached parent is not selected: its last snapshot is reused
    assert fourth.outcome == {"notes": "not selected", "child[scale=1]": "up to date", "child[scale=2]": "up to date"}

    with pytest.raises(ParentRaised, match=r"^node 'notes' \(attach: true\): dumping the state of attach/notes.ipynb "
                                           r"failed inside its kernel: SnapshotError: .*rows"):
        run(spec, strict=True)  # the generator cannot be copied: strict refuses, the run stops


@pytest.mark.slow
def test_an_attached_kernel_of_another_environment_is_refused_with_its_own_remedy(jupyter):
    study = jupyter.root / "otherenv"
    write_notebook(study / "notes.ipynb", "data = 1")
    write_notebook(study / "child.ipynb", "print(data)")
    spec = write_spec(study, """
        notebooks:
          notes: {path: notes.ipynb, attach: true}
          child: {path: child.ipynb, parent: notes}
    """)
    jupyter.open("otherenv/notes.ipynb", "import cloudpickle\ncloudpickle.__version__ = '1.0.0'\ndata = 1")
    with pytest.raises(LiveError) as err:
        run(spec)
    message = str(err.value)
    assert message.startswith("node 'notes' (attach: true): the state dumped by the kernel of otherenv/notes.ipynb "
                              "cannot be loaded here: snapshot was written with cloudpickle 1.0.0"), message
    assert "--force" not in message  # nbgraph never runs this notebook: re-running it is no remedy
    assert not (study / "build" / "child").exists()
    assert not list((study / "build").rglob("manifest.json"))  # the refused dump is not kept


@pytest.mark.slow
def test_attached_notebook_not_open_stops_the_run_before_anything_runs(jupyter):
    study = jupyter.root / "closed"
    write_notebook(study / "notes.ipynb", "data = 1")
    write_notebook(study / "child.ipynb", "print(data)")
    write_spec(study, """
        notebooks:
          notes: {path: notes.ipynb, attach: true}
          child: {path: child.ipynb, parent: notes}
    """)
    dry = run_cli("run", "--dry-run", cwd=study)  # looks at nothing live
    assert dry.returncode == 0 and "would snapshot  notes  (attach: true; its live kernel)" in dry.stdout
    proc = run_cli("run", cwd=study)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert line.startswith("nbgraph: error: node 'notes' (attach: true): ") and "is not open in any running" in line
    assert "\n" not in line and "Traceback" not in line and jupyter.token not in line
    assert not (study / "build" / "child").exists()


@pytest.mark.slow
def test_one_notebook_two_homes(jupyter):
    study = jupyter.root / "homes"
    write_notebook(study / "load.ipynb", "x = 41")
    work = write_notebook(study / "work.ipynb", "from nbgraph import inherit_from\ninherit_from('load.ipynb')",
                          "print('x + 1 =', x + 1)")
    spec = write_spec(study, """
        notebooks:
          load: {path: load.ipynb}
          work: {path: work.ipynb, parent: load}
    """)
    result = run(spec)
    assert result.ok, result.records["work"].error
    executed = nbformat.read(result.records["work"].output, as_version=4)
    said = [o["data"]["text/plain"] for c in executed.cells for o in c.get("outputs", []) if "data" in o]
    assert said == ["nbgraph: state already injected by nbgraph run from load; inherit_from did nothing"]
    assert "x + 1 = 42\n" in outputs_of(result.records["work"].output)

    # the same file, unchanged, in JupyterLab: the call copies the live parent's state
    jupyter.open("homes/load.ipynb", "x = 1")
    kernel = jupyter.open("homes/work.ipynb")
    printed = [kernel.run(cell.source) for cell in nbformat.read(work, as_version=4).cells]
    assert printed[0].startswith("nbgraph: inherited 1 variable from homes/load.ipynb")
    assert printed[1] == "x + 1 = 2\n"


@pytest.mark.slow
def test_replay_a_failed_variant_cell_by_cell_in_jupyter(jupyter):
    study = jupyter.root / "replay"
    write_notebook(study / "load.ipynb", "base = 10")
    write_notebook(study / "train.ipynb", "score = base * alpha",
                   "assert model != 'broken', f'model {model} fails with score {score}'",
                   parameters="model = 'ok'\nalpha = 1.0")
    spec = write_spec(study, """
        notebooks:
          load: {path: load.ipynb}
          train: {path: train.ipynb, parent: load, grid: {model: [ok, broken], alpha: [0.5, 2.0]}}
    """)
    result = run(spec)
    assert result.outcome["train[model=broken,alpha=2.0]"] == "failed"
    kernel = jupyter.open("replay/train.ipynb")
    shown = kernel.run("from nbgraph import inherit_from\n"
                       "inherit_from('train[model=broken,alpha=2.0]', spec='inheritance.yaml')")
    assert "inherited 1 variable from load" in shown and "model='broken', alpha=2.0" in shown
    cells = nbformat.read(study / "train.ipynb", as_version=4).cells
    kernel.run(cells[1].source)  # skip the parameters cell, as in the run
    with pytest.raises(AssertionError, match="model broken fails with score 20.0"):
        kernel.run(cells[2].source)


@pytest.mark.parametrize("extra,field", [("parent: b", "parent"), ("grid: {k: [1, 2]}", "grid"),
                                         ("params: {k: 1}", "params"), ("kernel: python3", "kernel"),
                                         ("retries: 2", "retries"), ("snapshot: false", "snapshot")])
def test_attach_spec_errors(tmp_path, extra, field):
    write_notebook(tmp_path / "a.ipynb", "x = 1")
    write_notebook(tmp_path / "b.ipynb", "x = 1")
    spec = write_spec(tmp_path, f"""
        notebooks:
          b: {{path: b.ipynb}}
          a: {{path: a.ipynb, attach: true, {extra}}}
    """)
    with pytest.raises(SpecError, match=f"inheritance.yaml:3: node 'a', field '{field}': "):
        load_spec(spec)


def test_content_digest_is_stable_for_the_same_state_and_sees_every_change(tmp_path):
    import numpy as np

    from nbgraph.live.attach import content_digest
    from nbgraph.snapshot.format import dump_namespace, read_manifest

    def digest(ns, name):
        dump_namespace(ns, tmp_path / name)
        return content_digest(tmp_path / name, read_manifest(tmp_path / name))

    arr, big = np.arange(200_000, dtype=float), [f"s{i:07d}" for i in range(150_000)]
    ns = {"arr": arr, "big": big, "small": {"a": 1}}
    first = digest(ns, "one")
    assert digest(ns, "two") == first  # two dumps of one state (random tokens, new files) agree
    arr[5] = -1.0  # in place: same sizes, other bytes
    changed = digest(ns, "three")
    assert changed != first
    big[7] = "other"
    assert digest(ns, "four") not in (first, changed)


@pytest.mark.slow
def test_attached_parent_with_a_build_on_s3(jupyter, s3, monkeypatch, tmp_path):
    endpoint, client = s3
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    study = jupyter.root / "remote"
    write_notebook(study / "notes.ipynb", "")
    write_notebook(study / "child.ipynb", "print('total', sum(data))")
    spec = write_spec(study, f"""
        build_dir: s3://nbgraph-builds/live
        storage_options: {{endpoint_url: "{endpoint}"}}
        notebooks:
          notes: {{path: notes.ipynb, attach: true}}
          child: {{path: child.ipynb, parent: notes}}
    """)
    jupyter.open("remote/notes.ipynb", "data = [5, 6]")
    result = run(spec)
    assert result.outcome == {"notes": "attached", "child": "succeeded"}
    assert "total 11\n" in outputs_of(result.records["child"].output)
    record = json.loads(client.get_object(Bucket="nbgraph-builds", Key="live/notes/default/record.json")["Body"].read())
    assert record["snapshot"].startswith("s3://nbgraph-builds/live/notes/default/snapshot-")
    assert record["attached"]["notebook"] == "remote/notes.ipynb"
