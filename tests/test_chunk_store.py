"""The content-addressed chunk store (issue 12): snapshots share what they inherit.

Fast tests dump and load namespaces in this process (the pagemap check is real: the
arrays are really mapped copy-on-write from chunk files); the others are real runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import chunk_files, flip_byte, outputs_of

from nbgraph.runner import run
from nbgraph.snapshot.chunks import CHUNK
from nbgraph.snapshot.format import dump_namespace, load_snapshot

MB = 1 << 20


def stored(objects: Path) -> set[str]:
    return {p.name for p in objects.glob("*/*") if not p.name.startswith(".")}


def test_an_untouched_inherited_array_is_saved_without_a_byte_written(tmp_path):
    objects = tmp_path / "objects"
    dump_namespace({"big": np.arange(4 * CHUNK // 8, dtype=np.float64)}, tmp_path / "a", objects=objects)
    ns = load_snapshot(tmp_path / "a")
    before = stored(objects)
    report = dump_namespace({**ns, "n": 1}, tmp_path / "b", objects=objects)
    assert report.written == 0 and stored(objects) == before
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["wrote"] == [] and chunk_files(tmp_path / "b") == chunk_files(tmp_path / "a")


def test_an_in_place_change_stores_the_touched_chunk_only_and_is_seen_downstream(tmp_path):
    objects = tmp_path / "objects"
    dump_namespace({"big": np.zeros(4 * CHUNK // 8)}, tmp_path / "a", objects=objects)
    ns = load_snapshot(tmp_path / "a")
    ns["big"][CHUNK // 8 + 3] = 7.0                       # one element, in the second chunk
    report = dump_namespace(ns, tmp_path / "b", objects=objects)
    assert report.written == CHUNK
    a, b = chunk_files(tmp_path / "a"), chunk_files(tmp_path / "b")
    assert [x == y for x, y in zip(a, b)] == [True, False, True, True]
    grandchild = load_snapshot(tmp_path / "b")            # never the grandparent's unmodified chunk
    assert grandchild["big"][CHUNK // 8 + 3] == 7.0 and grandchild["big"].sum() == 7.0
    assert load_snapshot(tmp_path / "a")["big"].sum() == 0   # and the parent's snapshot is unchanged


def test_a_slice_of_an_inherited_array_and_a_read_only_view_are_named_from_their_chunks(tmp_path):
    objects = tmp_path / "objects"
    dump_namespace({"big": np.arange(3 * CHUNK // 8, dtype=np.float64)}, tmp_path / "a", objects=objects)
    ns = load_snapshot(tmp_path / "a")
    tail = ns["big"][CHUNK // 8:]                          # starts on a chunk boundary
    frozen = ns["big"].view()
    frozen.flags.writeable = False
    report = dump_namespace({"tail": tail, "frozen": frozen}, tmp_path / "b", objects=objects)
    assert report.written == 0
    back = load_snapshot(tmp_path / "b")
    assert np.array_equal(back["tail"], np.arange(CHUNK // 8, 3 * CHUNK // 8)) and back["frozen"][-1] == 3 * CHUNK // 8 - 1


def test_without_sharing_every_snapshot_keeps_its_own_copy(tmp_path):
    dump_namespace({"big": np.ones(2 * CHUNK // 8)}, tmp_path / "a", objects=tmp_path / "objects")
    ns = load_snapshot(tmp_path / "a")
    report = dump_namespace(ns, tmp_path / "b", share=False)   # the benchmark's baseline
    assert report.written == 2 * CHUNK and (tmp_path / "b" / "objects").is_dir()
    assert load_snapshot(tmp_path / "b")["big"].sum() == 2 * CHUNK // 8


def study(project, size_mb: int = 24, tweak: str = "big[5] = -p") -> None:
    """A parent with two arrays, a grid of children changing one in place, a leaf under each
    child that also inherits (a mixin) from a sibling sharing the grandparent."""
    n = size_mb * MB // 8
    project.notebook("base.ipynb", f"import numpy as np\nbig = np.arange({n}.0)\nother = np.arange({n // 2}.0) / 2")
    project.notebook("mid.ipynb", tweak, "extra = np.ones(1000)", parameters="p = 0")
    project.notebook("side.ipynb", "side = other * 3")
    project.notebook("leaf.ipynb", "print('leaf', big[5], side[3], other[3])")
    project.spec("""
        notebooks:
          base: {path: base.ipynb}
          mid: {path: mid.ipynb, parent: base, grid: {p: [1, 2]}}
          side: {path: side.ipynb, parent: base}
          leaf: {path: leaf.ipynb, parents: [side, mid]}
    """)


@pytest.mark.slow
@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_a_study_stores_what_it_inherits_once_and_every_leaf_sees_its_parents_changes(project, fork):
    study(project)
    result = run(project.root / "inheritance.yaml", fork=fork, jobs=2)
    assert {r.status.value for r in result.records.values()} == {"succeeded"}, result.records
    build = project.root / "build"
    for p in (1, 2):
        assert f"leaf {-p:.1f} 4.5 1.5" in "".join(outputs_of(build / f"leaf/p={p}/leaf.ipynb"))
    objects = build / ".nbgraph" / "objects"
    total = sum(c.stat().st_size for c in objects.glob("*/*"))
    distinct = (24 + 12 + 12) * MB                      # big, other, side; the mids add one chunk each
    assert distinct <= total <= distinct + 2 * CHUNK, total
    base = chunk_files(next((build / "base/default").glob("snapshot-*")))
    leaf = chunk_files(next((build / "leaf/p=1").glob("snapshot-*")))
    assert len(set(leaf) - set(base)) <= 1 + (12 * MB) // CHUNK + 1   # mid's touched chunk, side's array, extra


@pytest.mark.slow
def test_clean_after_a_grid_shrinks_frees_the_dropped_variants_and_keeps_what_others_share(project):
    study(project, tweak="big *= p + 1")                   # each mid holds its own 24 MB
    assert project.cli("run").returncode == 0
    objects = project.root / "build/.nbgraph/objects"
    before = stored(objects)
    spec = (project.root / "inheritance.yaml").read_text().replace("grid: {p: [1, 2]}", "grid: {p: [1]}")
    (project.root / "inheritance.yaml").write_text(spec)
    dry = project.cli("clean", "--dry-run")
    assert dry.returncode == 0 and "would free" in dry.stdout and stored(objects) == before
    cleaned = project.cli("clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    line = cleaned.stdout.strip().splitlines()[-1]
    assert "unreferenced chunk(s)" in line and "freed" in line, line
    freed = float(line.rsplit("freed ", 1)[1].split()[0])
    assert freed >= 24, line                               # mid[p=2]'s array (and its leaf's files)
    gone = before - stored(objects)
    assert len(gone) == 24 * MB // CHUNK, len(gone)
    for snapshot in (project.root / "build").glob("*/*/snapshot-*"):  # every kept snapshot is whole
        assert all(c.is_file() for c in chunk_files(snapshot)), snapshot
    again = project.cli("run", "--only", "leaf", "--force")     # the remaining children still run from their parents
    assert again.returncode == 0, again.stdout + again.stderr
    assert "leaf 10.0 4.5 1.5" in "".join(outputs_of(project.root / "build/leaf/p=1/leaf.ipynb"))


@pytest.mark.slow
def test_a_forced_re_run_leaves_its_old_chunks_to_the_next_clean(project):
    project.notebook("a.ipynb", "import numpy as np\nx = np.random.default_rng().random(2_000_000)")
    project.spec("notebooks:\n  a: {path: a.ipynb}\n")
    assert project.cli("run").returncode == 0
    objects = project.root / "build/.nbgraph/objects"
    first = stored(objects)
    assert project.cli("run", "--force").returncode == 0
    assert first < stored(objects)
    cleaned = project.cli("clean")
    assert cleaned.returncode == 0 and stored(objects).isdisjoint(first) and stored(objects)


@pytest.mark.slow
def test_a_tampered_shared_chunk_is_refused_by_name_for_every_child(project):
    study(project)
    assert project.cli("run").returncode == 0
    chunk = chunk_files(next((project.root / "build/base/default").glob("snapshot-*")))[-1]   # held by every snapshot
    flip_byte(chunk, 100)
    again = project.cli("run", "--force", "--only", "mid")
    assert again.returncode == 1
    assert f"chunk {chunk.name[:16]} ({chunk}) does not match its name" in again.stdout, again.stdout
    assert "re-run it: nbgraph run --force --only base" in again.stdout


@pytest.mark.slow
def test_kill_9_while_saving_leaves_no_record_of_a_partial_snapshot_and_the_next_run_cleans_up(project):
    project.notebook("a.ipynb", "import numpy as np\nbig = np.random.default_rng(0).random(60_000_000)")
    project.notebook("b.ipynb", "print('b', round(float(big[:10].sum()), 6))")
    project.spec("notebooks:\n  a: {path: a.ipynb}\n  b: {path: b.ipynb, parent: a}\n")
    proc = subprocess.Popen([sys.executable, "-m", "nbgraph", "run", "--no-fork"], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    objects = project.root / "build/.nbgraph/objects"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(objects.glob("*/*"))) < 5:  # the snapshot cell is writing
        time.sleep(0.01)
    import psutil

    kernels = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(kernels, timeout=30)  # an orphaned kernel notices its parent is gone
    assert not alive, alive
    assert not (project.root / "build/a/default/record.json").exists()
    rerun = project.cli("run")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not list(project.root.glob("build/**/.*.partial*"))
    expected = round(float(np.random.default_rng(0).random(60_000_000)[:10].sum()), 6)
    assert f"b {expected}" in "".join(outputs_of(project.root / "build/b/default/b.ipynb"))


@pytest.mark.slow
def test_a_build_of_the_previous_snapshot_format_re_runs_with_a_reason(project):
    project.notebook("a.ipynb", "x = 1")
    project.notebook("b.ipynb", "print(x)")
    project.spec("notebooks:\n  a: {path: a.ipynb}\n  b: {path: b.ipynb, parent: a}\n")
    assert project.cli("run").returncode == 0
    from nbgraph.snapshot import sign

    snapshot = next((project.root / "build/a/default").glob("snapshot-*"))
    manifest = json.loads((snapshot / "manifest.json").read_text())
    old = {k: v for k, v in manifest.items() if k not in ("hmac", "objects", "wrote")}
    old.update(format=3, files={**old["files"], "buffers.bin": {"size": 0}})
    (snapshot / "manifest.json").write_text(json.dumps(sign.sign(old)))
    status = json.loads(project.cli("status", "--json").stdout)
    row = next(r for r in status if r["name"] == "a")
    assert row["stale"] and row["reason"] == "snapshot format changed (written by another nbgraph version)"
    again = project.cli("run")
    assert again.returncode == 0 and "Traceback" not in again.stdout + again.stderr
    assert "1" in "".join(outputs_of(project.root / "build/b/default/b.ipynb"))


@pytest.mark.slow
def test_an_s3_build_uploads_each_chunk_once_and_clean_cleans_the_bucket(project, s3, monkeypatch, tmp_path):
    endpoint, client = s3
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    study(project, size_mb=12)
    spec = project.root / "inheritance.yaml"
    text = spec.read_text().replace("notebooks:", f'build_dir: s3://nbgraph-builds/chunks\n'
                                                  f'storage_options: {{endpoint_url: "{endpoint}"}}\nnotebooks:', 1)
    spec.write_text(text)
    result = run(spec, fork=False)
    assert {r.status.value for r in result.records.values()} == {"succeeded"}

    def keys():
        pages = client.get_paginator("list_objects_v2").paginate(Bucket="nbgraph-builds", Prefix="chunks/")
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    chunks = {k: v for k, v in keys().items() if k.startswith("chunks/.nbgraph/objects/")}
    distinct = (12 + 6 + 6) * MB
    assert distinct <= sum(chunks.values()) <= distinct + 3 * CHUNK
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "nbgraph", *args], cwd=project.root, capture_output=True,
                              text=True, env={**os.environ, "NBGRAPH_CACHE_DIR": str(tmp_path / "cache")})

    report = cli("report")                                 # the page goes where teammates look
    assert report.returncode == 0 and "published to s3://nbgraph-builds/chunks/report/index.html" in report.stdout
    assert "chunks/report/index.html" in keys()
    spec.write_text(text.replace("grid: {p: [1, 2]}", "grid: {p: [1]}"))
    cleaned = cli("clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "p=2" in cleaned.stdout and "p=2" not in cli("clean", "--dry-run").stdout   # not offered again
    after = keys()
    assert not [k for k in after if k.startswith(("chunks/mid/p=2/", "chunks/leaf/p=2/"))]   # the bucket itself
    assert len([k for k in after if k.startswith("chunks/.nbgraph/objects/")]) == len(chunks) - 1  # mid[p=2]'s chunk
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "elsewhere"))    # another machine: all up to date
    again = run(spec, fork=False)
    assert set(again.outcome.values()) == {"up to date"}
