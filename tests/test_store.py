"""The store contract, run against every implementation: a local folder and an fsspec URL.

``memory://`` is fsspec's real in-memory filesystem: the same code path as ``s3://``
without a server (the S3 protocol itself is covered in test_distributed.py with moto).
"""

from __future__ import annotations

import json
import uuid

import pytest

from nbgraph.errors import StoreError
from nbgraph.snapshot.format import dump_namespace, load_snapshot
from nbgraph.store import FsspecStore, LocalStore, clean_partials, is_url, mirror_dir, open_store


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    if request.param == "local":
        return open_store(tmp_path / "build")
    return open_store(f"memory://nbgraph-test-{uuid.uuid4().hex}/build")


def other_machine(store, tmp_path):
    """The same location seen from a machine with an empty cache."""
    if not store.remote:
        return store
    return FsspecStore(store.location, root=tmp_path / "other-cache")


def test_refs_round_trip(store):
    path = store.root / "node" / "default" / "nb.ipynb"
    ref = store.ref(path)
    assert store.local(ref) == path
    assert store.ref(ref) == ref and store.local(store.local(ref)) == path
    assert ref.startswith("memory://") if store.remote else ref == str(path)


def test_published_snapshot_is_fetched_verified_and_loaded_elsewhere(store, tmp_path):
    snap = store.root / "load" / "default" / "snapshot-0123456789abcdef"
    dump_namespace({"rows": [1, 2, 3]}, snap)
    ref = store.publish(snap)
    there = other_machine(store, tmp_path)
    local = there.fetch(ref)
    assert load_snapshot(local) == {"rows": [1, 2, 3]}


def test_records_are_pulled_with_local_paths(store, tmp_path):
    variant_dir = store.root / "train" / "k=1"
    out = variant_dir / "train.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text("{}")
    store.publish(out)
    record = variant_dir / "record.json"
    record.write_text(json.dumps({"name": "train[k=1]", "output": str(out), "snapshot": None}))
    store.push_record(record)
    there = other_machine(store, tmp_path)
    there.pull_records()
    pulled = json.loads((there.root / "train" / "k=1" / "record.json").read_text())
    assert pulled["output"] == str(there.root / "train" / "k=1" / "train.ipynb")
    assert (there.root / "train" / "k=1" / "train.ipynb").read_text() == "{}"


def test_fetching_what_does_not_exist_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    store = open_store(f"memory://nbgraph-test-{uuid.uuid4().hex}/build")
    with pytest.raises(StoreError, match="does not exist"):
        store.fetch(store.ref(store.root / "nope" / "x.ipynb"))


def test_location_kinds(tmp_path):
    assert not is_url("/data/build") and not is_url("file:///data/build") and is_url("s3://b/p")
    assert isinstance(open_store("file://" + str(tmp_path)), LocalStore)
    assert mirror_dir("s3://b/p") == mirror_dir("s3://b/p/")


def test_clean_partials_removes_only_temporary_files(tmp_path):
    (tmp_path / "n" / ".snapshot-abc.x1.partial").mkdir(parents=True)
    (tmp_path / "n" / ".nb.partial.ipynb").write_text("{")
    (tmp_path / "n" / "nb.ipynb").write_text("{}")
    assert clean_partials(tmp_path) == 2
    assert [p.name for p in (tmp_path / "n").iterdir()] == ["nb.ipynb"]


def test_a_snapshot_rewritten_in_place_is_fetched_again_even_with_same_sizes(store, tmp_path):
    # a --force re-run writes the same snapshot path; arrays of the same shape, new values
    import numpy as np

    snap = store.root / "load" / "default" / "snapshot-0123456789abcdef"
    dump_namespace({"arr": np.zeros(50_000)}, snap)
    ref = store.publish(snap)
    there = other_machine(store, tmp_path)
    assert load_snapshot(there.fetch(ref))["arr"].sum() == 0
    dump_namespace({"arr": np.ones(50_000)}, snap)
    store.publish(snap)
    there.fetch(ref, manifest_only=True)  # what the scheduler's machine mirrors after a run
    assert load_snapshot(there.fetch(ref))["arr"].sum() == 50_000
    assert load_snapshot(there.fetch(ref))["arr"].sum() == 50_000  # and a second fetch keeps it
