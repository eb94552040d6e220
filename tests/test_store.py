"""The store contract (nbgraph/store.py), run against every implementation: a local folder, and
fsspec URLs: ``memory://`` (fsspec's real in-memory filesystem), ``file://`` through fsspec, and
``s3://`` on a real S3 protocol server (moto; slow: a server).
"""

from __future__ import annotations

import json
import uuid

import pytest

from nbgraph.errors import StoreError
from nbgraph.snapshot.format import dump_namespace, load_snapshot
from nbgraph.build.remote import FsspecStore
from nbgraph.build.location import open_store
from nbgraph.build.store import LocalStore, clean_partials, is_url, mirror_dir


@pytest.fixture(params=["local", "memory", "file", pytest.param("s3", marks=pytest.mark.slow)])
def store(request, tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRAPH_CACHE_DIR", str(tmp_path / "cache"))
    if request.param == "local":
        return open_store(tmp_path / "build")
    if request.param == "memory":
        return open_store(f"memory://nbgraph-test-{uuid.uuid4().hex}/build")
    if request.param == "file":  # open_store takes file:// as a local folder; fsspec's local filesystem here
        return FsspecStore(f"file://{tmp_path}/location", {"auto_mkdir": True})
    endpoint, _ = request.getfixturevalue("s3")
    return open_store(f"s3://nbgraph-builds/{uuid.uuid4().hex}/build", {"endpoint_url": endpoint})


def other_machine(store, tmp_path):
    """The same location seen from a machine with an empty cache."""
    if not store.remote:
        return store
    return FsspecStore(store.location, store.storage_options, root=tmp_path / "other-cache")


def test_refs_round_trip(store):
    path = store.root / "node" / "default" / "nb.ipynb"
    ref = store.ref(path)
    assert store.local(ref) == path
    assert store.ref(ref) == ref and store.local(store.local(ref)) == path
    assert ref.startswith(store.location + "/") if store.remote else ref == str(path)


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


def test_a_published_file_is_fetched_elsewhere_with_its_content(store, tmp_path):
    path = store.root / "node" / "default" / "node.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text('{"cells": []}')
    ref = store.publish(path)
    assert ref == store.ref(path)
    there = other_machine(store, tmp_path)
    fetched = there.fetch(ref)
    assert fetched == there.local(ref) and fetched.read_text() == '{"cells": []}'
    assert fetched.is_relative_to(there.root)


def test_fetch_manifest_only_brings_only_the_manifest(store, tmp_path):
    snap = store.root / "load" / "default" / "snapshot-00112233445566ff"
    dump_namespace({"x": 1}, snap)
    ref = store.publish(snap)
    there = other_machine(store, tmp_path)
    local = there.fetch(ref, manifest_only=True)
    present = sorted(p.name for p in local.iterdir())
    assert present == (sorted(p.name for p in snap.iterdir()) if not store.remote else ["manifest.json"])
    assert load_snapshot(there.fetch(ref)) == {"x": 1}  # then the whole snapshot, on demand


def test_push_record_stores_refs_and_pull_records_mirrors_each(store, tmp_path):
    for k in (1, 2):
        folder = store.root / "train" / f"k={k}"
        folder.mkdir(parents=True)
        (folder / "train.ipynb").write_text("{}")
        store.publish(folder / "train.ipynb")
        (folder / "record.json").write_text(json.dumps({"name": f"train[k={k}]", "output": str(folder / "train.ipynb"),
                                                       "snapshot": None}))
        store.push_record(folder / "record.json")
    there = other_machine(store, tmp_path)
    assert there.pull_records() == (2 if store.remote else 0)  # a local folder has nothing to mirror
    for k in (1, 2):
        assert json.loads((there.root / "train" / f"k={k}" / "record.json").read_text())["name"] == f"train[k={k}]"
    if store.remote:  # at the location, a record names what it points to by ref, for every machine
        import fsspec

        record = store.ref(store.root / "train" / "k=1" / "record.json")
        with fsspec.open(record, "rb", **store.storage_options) as fh:
            assert json.loads(fh.read())["output"] == store.ref(store.root / "train" / "k=1" / "train.ipynb")


def test_remove_deletes_at_the_location_and_in_the_local_root(store, tmp_path):
    snap = store.root / "load" / "default" / "snapshot-00112233445566ff"
    dump_namespace({"x": 1}, snap)
    out = snap.parent / "load.ipynb"
    out.write_text("{}")
    refs = [store.publish(snap), store.publish(out)]
    for ref in refs:
        store.remove(ref)
        store.remove(ref)  # already gone: nothing to do
    assert not snap.exists() and not out.exists()
    if store.remote:
        there = other_machine(store, tmp_path)
        for ref in refs:
            with pytest.raises(StoreError, match="does not exist"):
                there.fetch(ref)


def test_location_root_and_remote_describe_the_store(store):
    assert store.remote is isinstance(store, FsspecStore)
    if not store.remote:
        assert store.location == str(store.root)
    else:  # the URL as given (no trailing slash), mirrored in this machine's cache
        assert "://" in store.location and not store.location.endswith("/")
        assert store.root == mirror_dir(store.location) and store.root.is_dir()


def test_snapshots_sharing_chunks_travel_with_only_the_chunks_the_other_side_lacks(store, tmp_path):
    import numpy as np

    objects = store.root / ".nbgraph" / "objects"
    first = store.root / "a" / "default" / "snapshot-00000000000000aa"
    dump_namespace({"big": np.arange(1_500_000.0)}, first, objects=objects)   # 12 MB: 3 chunks
    again = load_snapshot(first)
    again["big"][0] = -1.0                                                  # one chunk changed
    second = store.root / "b" / "default" / "snapshot-00000000000000bb"
    dump_namespace(again, second, objects=objects)
    store.publish(first)
    if store.remote:
        assert store.uploaded_chunks == 3
    store.publish(second)
    if store.remote:
        assert store.uploaded_chunks == 4                                  # the shared two went once
    there = other_machine(store, tmp_path)
    assert load_snapshot(there.fetch(store.ref(first)))["big"][0] == 0.0
    assert load_snapshot(there.fetch(store.ref(second)))["big"][0] == -1.0
    if store.remote:
        assert there.downloaded_chunks == 4
