"""The Lab layer's Python model without a server: path refusal, spec discovery, a run's state
folded from its worker's events (fast; the real server and runs are in test_lab_api.py)."""

from __future__ import annotations

import io
import json

import pytest

from nbgraph.lab import model
from nbgraph.lab.runs import Run
from nbgraph.lab.worker import JsonEvents

from conftest import write_spec as _write_spec


def write_spec(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    return _write_spec(folder, text)


def test_resolve_keeps_every_spec_inside_the_root(tmp_path):
    root = tmp_path / "root"
    write_spec(root / "study", "notebooks: {}\n")
    (tmp_path / "outside.yaml").write_text("notebooks: {}\n")
    (root / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    assert model.resolve(root, "study") == (root / "study" / "inheritance.yaml").resolve()
    assert model.resolve(root, "/study/inheritance.yaml") == (root / "study" / "inheritance.yaml").resolve()
    for bad in ("../outside.yaml", "study/../../outside.yaml", "link.yaml"):
        with pytest.raises(model.OutsideRoot):
            model.resolve(root, bad)
    with pytest.raises(model.NotFound):
        model.resolve(root, "study/missing.yaml")
    with pytest.raises(model.OutsideRoot):
        model.resolve_file(root, "../x.ipynb")
    assert model.resolve_file(root, "study/new.ipynb") == (root / "study" / "new.ipynb").resolve()


def test_find_specs_lists_yaml_files_with_notebooks_nearest_first(tmp_path):
    write_spec(tmp_path / "a" / "b", "notebooks: {}\n")
    write_spec(tmp_path, "# top\nnotebooks: {}\n")
    (tmp_path / "other.yaml").write_text("name: not a spec\n")
    write_spec(tmp_path / "build" / "x", "notebooks: {}\n")  # build output is not searched
    assert model.find_specs(tmp_path) == ["inheritance.yaml", "a/b/inheritance.yaml"]
    assert model.find_specs(tmp_path, "a") == ["a/b/inheritance.yaml"]
    with pytest.raises(model.OutsideRoot):
        model.find_specs(tmp_path, "..")


def _events(*calls) -> list[dict]:
    out = io.StringIO()
    events = JsonEvents(out)
    for name, *args in calls:
        if name == "emit":
            events.emit(args[0], **args[1])
        else:
            getattr(events, name)(*args)
    return [json.loads(line) for line in out.getvalue().splitlines()]


class _Item:
    def __init__(self, name):
        self.variant = type("V", (), {"name": name})()


class _Record:
    def __init__(self, status, error=None, duration=1.5):
        self.status, self.error, self.duration = status, error, duration


def test_a_run_folds_its_worker_events_and_ends_only_when_the_worker_exits(tmp_path):
    run = Run(id="abc", spec=tmp_path / "inheritance.yaml", only=[], force=False)
    stream = _events(("planned", 3), ("started", _Item("base")), ("finished", _Item("base"), _Record("succeeded")),
                     ("started", _Item("leaf[x=1]")), ("started", _Item("leaf[x=2]")),
                     ("finished", _Item("leaf[x=1]"), _Record("failed", "ValueError: broken")))
    for event in stream:
        run.apply(event)
    state = run.to_json()
    assert state["total"] == 3 and state["counts"] == {"running": 1, "succeeded": 1, "failed": 1, "skipped": 0}
    assert state["failures"] == ["failed: leaf[x=1]: ValueError: broken"]
    assert run.locked.is_set()
    run.apply({"event": "interrupted"})
    assert run.state == "running" and run.ending == "interrupted"  # the worker is still cleaning up
    assert run.variants["leaf[x=2]"] == "interrupted"


def test_the_summary_failed_lines_are_kept_with_where_to_look(tmp_path):
    run = Run(id="abc", spec=tmp_path / "inheritance.yaml", only=[], force=False)
    run.apply({"event": "done", "ok": False, "outcome": {}, "summary": [
        "0 succeeded, 1 failed, 0 skipped, 0 up to date  (1.0s)", "failed: a: ValueError: x",
        "        notebook: /b/a/a.ipynb", "        log: /b/a/a.log", "not passed down by a: f (function): why"]})
    assert run.failure_lines() == ["failed: a: ValueError: x", "notebook: /b/a/a.ipynb", "log: /b/a/a.log"]
    assert run.ending == "failed"


def test_a_start_error_is_announced_with_its_kind():
    [event] = _events(("emit", "error", {"kind": "BuildBusy", "message": "build is in use"}))
    run = Run(id="x", spec=None, only=[], force=False)
    run.apply(event)
    assert (run.kind, run.message, run.ending) == ("BuildBusy", "build is in use", "failed") and run.locked.is_set()


@pytest.mark.slow
def test_a_server_keeps_its_most_recent_ended_runs_and_every_running_one(tmp_path):
    import asyncio

    from conftest import write_notebook
    from nbgraph.lab.runs import KEEP_ENDED, RUNNING, Runs

    write_notebook(tmp_path / "a.ipynb", "x = 1")
    spec = _write_spec(tmp_path, "notebooks:\n  a: a.ipynb\n")
    runs = Runs()
    for i in range(KEEP_ENDED + 10):  # what a long-lived server has seen
        runs.runs[f"old{i}"] = Run(id=f"old{i}", spec=spec, only=[], force=False, state="succeeded", ended=1000.0 + i)
    runs.runs["going"] = Run(id="going", spec=spec, only=[], force=False)

    async def scenario():
        run = await runs.start(spec, [], False, tmp_path)
        await run.follow
        return run

    run = asyncio.run(scenario())
    assert run.state == "succeeded" and runs.get(run.id) is run
    ended = [r.id for r in runs.runs.values() if r.state != RUNNING and r.id != run.id]
    assert len(ended) == KEEP_ENDED  # the oldest ten forgotten when the new run started
    assert "old0" not in runs.runs and f"old{KEEP_ENDED + 9}" in runs.runs and runs.get("going") is not None
