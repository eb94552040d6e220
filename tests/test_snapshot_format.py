"""The snapshot format in-process: round trips, skips, rollback, integrity, versions.

A "parent" namespace is built by exec'ing notebook-like source into a fresh dict (so
its functions and classes live in that namespace, as they do in a kernel); the
"child" is another fresh dict loaded from the snapshot.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbgraph.errors import SnapshotError
from nbgraph.snapshot import sign
from conftest import chunk_files, flip_byte
from nbgraph.snapshot.format import (FORMAT_VERSION, MANIFEST, STATE, dump_namespace, load_snapshot,
                                     read_manifest)


def namespace(source: str) -> dict:
    ns: dict = {"__name__": "__main__"}
    exec(compile(textwrap.dedent(source), "<notebook>", "exec"), ns)
    return ns


def roundtrip(tmp_path: Path, source: str, **kw) -> tuple[dict, dict]:
    parent = namespace(source)
    dump_namespace(parent, tmp_path / "snap", **kw)
    child: dict = {"__name__": "__main__"}
    load_snapshot(tmp_path / "snap", into=child)
    return parent, child


TRICKY = """
    import enum, math
    import numpy as np
    import pandas as pd

    big = np.arange(200_000, dtype=np.float64)      # out of band
    alias = big
    part = big[100:110]                              # a view of another variable
    small = np.arange(5)
    grid = np.arange(24.0).reshape(4, 6)            # itself a view of an unnamed array
    flipped = grid[::-1, ::2]
    fortran = np.asfortranarray(np.ones((300, 400)))
    rows = fortran[:10]
    head = np.arange(1_000_000.0)[:10]              # its huge unnamed base is not saved

    class Model:
        def __init__(self, w):
            self.w = w
        def predict(self, x):
            return x * self.w.sum() + offset

    class Color(enum.Enum):
        RED = 1
        BLUE = 2

    offset = 1
    model = Model(big)
    color = Color.BLUE
    square = lambda x: x * x
    def make_adder(n):
        def add(x):
            return x + n + offset
        return add
    add3 = make_adder(3)
    def area(r):
        return math.pi * r * r
    nested = {"a": [1, (2, {"b": big, "c": [model, color]})], "s": {1, 2}}
    frame = pd.DataFrame({"x": np.arange(100_000), "c": pd.Categorical(["u", "v"] * 50_000),
                          "s": ["word"] * 100_000})
"""


def test_tricky_state_round_trips(tmp_path):
    parent, child = roundtrip(tmp_path, TRICKY)
    assert child["alias"] is child["big"] and child["model"].w is child["big"]
    assert child["nested"]["a"][1][1]["b"] is child["big"]
    np.testing.assert_array_equal(child["big"], parent["big"])
    np.testing.assert_array_equal(child["part"], parent["big"][100:110])
    assert np.shares_memory(child["part"], child["big"])          # the view is still a view
    for name in ("grid", "flipped", "fortran", "rows", "head"):
        np.testing.assert_array_equal(child[name], parent[name])
    assert np.shares_memory(child["flipped"], child["grid"]) and np.shares_memory(child["rows"], child["fortran"])
    child["grid"][3, 0] = -1
    assert child["flipped"][0, 0] == -1
    assert read_manifest(tmp_path / "snap")["size"] < 4_000_000
    assert isinstance(child["model"], child["Model"])
    assert child["nested"]["a"][1][1]["c"][0] is child["model"]
    assert child["color"] is child["Color"].BLUE and child["nested"]["a"][1][1]["c"][1] is child["color"]
    assert child["square"](4) == 16 and child["add3"](1) == 5 and round(child["area"](1), 5) == 3.14159
    assert child["model"].predict(0) == 1
    pd.testing.assert_frame_equal(child["frame"], parent["frame"])
    assert child["frame"]["c"].dtype == "category"
    assert child["nested"]["s"] == {1, 2}


def test_parent_function_sees_the_childs_globals(tmp_path):
    """A function defined in the parent reads the child's current value of a global."""
    _, child = roundtrip(tmp_path, """
        import numpy as np
        rate = 2
        def scaled(x):
            return np.asarray(x) * rate
        class Scaler:
            def apply(self, x):
                return scaled(x) + bias
        bias = 0
    """)
    assert child["scaled"](3) == 6
    assert child["scaled"].__globals__ is child
    child["rate"] = 10                     # the child redefines a global the function reads
    child["bias"] = 1
    assert child["scaled"](3) == 30
    assert child["Scaler"]().apply(1) == 11
    del child["np"]                        # and it really uses the child's namespace
    with pytest.raises(NameError):
        child["scaled"](1)


def test_code_that_runs_while_loading_sees_the_globals_loaded_before(tmp_path):
    """A notebook class's __setstate__ (or a reconstructor) may use the notebook's imports."""
    _, child = roundtrip(tmp_path, """
        import numpy as np
        class Cache:
            def __init__(self, n):
                self.n = n
            def __getstate__(self):
                return {"n": self.n}
            def __setstate__(self, state):
                self.n = state["n"]
                self.table = np.arange(self.n)  # rebuilt on load, not pickled
        cache = Cache(4)
    """)
    assert list(child["cache"].table) == [0, 1, 2, 3]


def test_functions_pass_down_generations(tmp_path):
    """A grandchild re-saved by the child still binds the function to its own namespace."""
    _, child = roundtrip(tmp_path, "rate = 2\ndef scaled(x):\n    return x * rate\n")
    child["rate"] = 3
    dump_namespace(child, tmp_path / "child")
    grandchild: dict = {}
    load_snapshot(tmp_path / "child", into=grandchild)
    assert grandchild["scaled"](1) == 3
    grandchild["rate"] = 5
    assert grandchild["scaled"](1) == 5 and child["scaled"](1) == 3


def test_child_mutating_an_inherited_array_does_not_change_the_snapshot(tmp_path):
    _, child = roundtrip(tmp_path, "import numpy as np\nbig = np.zeros(1_000_000)")
    child["big"][:10] = 7
    again = load_snapshot(tmp_path / "snap")
    assert again["big"][:10].sum() == 0
    assert read_manifest(tmp_path / "snap")["buffers"]  # it went out of band, mapped


def test_unpicklable_kinds_are_skipped_and_reported(tmp_path):
    target = tmp_path / "data.txt"
    target.write_text("precious")
    parent = namespace(f"""
        import io, socket, sqlite3, threading, weakref
        kept = [1, 2, 3]
        gen = (i for i in range(3))
        lock = threading.Lock()
        thread = threading.Thread(target=print)
        sock = socket.socket()
        db = sqlite3.connect(":memory:")
        fh = open({str(target)!r}, "a")
        held = {{"inner": threading.RLock(), "x": 1}}
        class Widget:
            pass
        ref = weakref.ref(Widget)           # C pickle refuses; dill takes it
        buf = io.BytesIO(b"in memory")      # not an open file: kept
        from IPython.display import HTML
        page = HTML("<b>hi</b>")            # IPython's, but plain data: kept
    """)
    try:
        report = dump_namespace(parent, tmp_path / "snap")
    finally:
        parent["sock"].close()
        parent["db"].close()
        parent["fh"].close()
    skipped = {s["name"]: s for s in report.skipped}
    assert set(skipped) == {"gen", "lock", "thread", "sock", "db", "fh", "held"}
    assert "generator" in skipped["gen"]["reason"] and skipped["gen"]["type"] == "generator"
    assert "database connection" in skipped["db"]["reason"]
    assert "open file" in skipped["fh"]["reason"]
    assert "RLock" in skipped["held"]["reason"]
    manifest = read_manifest(tmp_path / "snap")
    assert manifest["skipped"] == report.skipped
    assert {e["name"]: e["kind"] for e in manifest["entries"]}["ref"] == "dill"
    child = load_snapshot(tmp_path / "snap")
    assert child["kept"] == [1, 2, 3] and child["buf"].getvalue() == b"in memory"
    assert child["page"].data == "<b>hi</b>"
    assert type(child["ref"]).__name__ == "ReferenceType"   # by dill, with its own memo
    assert target.read_text() == "precious"


def test_a_failed_variable_is_rolled_back_and_identity_survives_around_it(tmp_path):
    """The shared memo is rewound past a variable that failed midway."""
    parent, child = roundtrip(tmp_path, """
        class Bad:
            def __reduce__(self):
                raise TypeError("no pickling for me")
        shared = [1, 2, 3]
        first = {"s": shared}
        broken = [shared, [4, 5], Bad()]   # memoizes objects, then fails
        after = {"s": shared, "again": [6]}
        last = after
    """)
    assert "broken" not in child
    assert child["first"]["s"] is child["shared"] is child["after"]["s"]
    assert child["last"] is child["after"]


def test_a_variable_that_fails_to_load_does_not_take_the_others(tmp_path, monkeypatch):
    parent = namespace("""
        import fractions
        shared = {"k": 1}
        one = [shared, fractions.Fraction(1, 3)]
        two = {"s": shared, "t": [1]}
    """)
    dump_namespace(parent, tmp_path / "snap")
    import fractions

    monkeypatch.delattr(fractions, "Fraction")     # as if the child's environment lacked it
    failed: list = []
    child = load_snapshot(tmp_path / "snap", failed=failed)
    assert [f["name"] for f in failed] == ["one"] and "cannot be loaded" in failed[0]["reason"]
    assert child["two"]["s"] == {"k": 1} and child["two"]["t"] == [1]


def test_strict_refuses_and_writes_nothing(tmp_path):
    parent = namespace("import threading\nok = 1\nlock = threading.Lock()")
    with pytest.raises(SnapshotError, match=r"strict mode: cannot snapshot lock .*exclude"):
        dump_namespace(parent, tmp_path / "snap", strict=True)
    assert not (tmp_path / "snap").exists() and not list(tmp_path.iterdir())
    assert dump_namespace(parent, tmp_path / "snap", strict=True, exclude=["lock"]).variables["ok"] == "int"


CHUNK_FILE = "a chunk"


@pytest.fixture
def snapshot(tmp_path):
    parent = namespace("import numpy as np\nbig = np.arange(100_000.0)\nnames = ['a', 'b'] * 100")
    dump_namespace(parent, tmp_path / "snap")
    return tmp_path / "snap"


@pytest.mark.parametrize("name", [MANIFEST, STATE, CHUNK_FILE])
@pytest.mark.parametrize("where", [0.0, 0.5, 1.0])
def test_flipping_one_byte_of_any_file_is_refused(snapshot, name, where):
    path = chunk_files(snapshot)[0] if name == CHUNK_FILE else snapshot / name
    data = bytearray(path.read_bytes())
    i = min(int(len(data) * where), len(data) - 1)
    if name == MANIFEST:  # keep it JSON: change one hex digit of a value
        text = data.decode()
        i = text.index('"sha256": "') + len('"sha256": "')
        data[i] = ord("0") if data[i] != ord("0") else ord("1")
    else:
        data[i] ^= 0x01
    os.chmod(path, 0o600)
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError) as err:
        load_snapshot(snapshot)
    assert str(snapshot) in str(err.value) and "--force" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SnapshotError):
        read_manifest(snapshot)


def test_lazy_check_trusts_buffer_contents_but_not_sizes(snapshot):
    """A child (``verify_buffers=False``) does not read buffers, but a truncated file is caught."""
    chunk = chunk_files(snapshot)[0]
    flip_byte(chunk, 4096)
    assert read_manifest(snapshot, check_files="stream")
    with pytest.raises(SnapshotError, match=f"chunk {chunk.name[:16]} .*does not match its name"):
        read_manifest(snapshot, check_files=True)
    chunk.write_bytes(b"x" * 100)
    with pytest.raises(SnapshotError, match=f"chunk {chunk.name[:16]} .*"):
        load_snapshot(snapshot, verify_buffers=False)


def test_wrong_key_is_refused(snapshot, tmp_path, monkeypatch):
    monkeypatch.setenv(sign.KEY_ENV, str(tmp_path / "other.key"))
    with pytest.raises(SnapshotError, match="signature does not match.*--force"):
        load_snapshot(snapshot)


def test_nbgraphs_own_key_readable_by_others_is_made_private_again(tmp_path, monkeypatch):
    import stat

    key = tmp_path / "nbgraph" / "snapshot.key"  # the default key, not one named by NBGRAPH_KEY_FILE
    key.parent.mkdir()
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)  # e.g. copied from another machine
    monkeypatch.delenv(sign.KEY_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert sign.signing_key() == key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.parametrize("other,problem", [
    (("a[p=2]", "k1", "r1"), r"made for variant a\[p=1\], not a\[p=2\]"),
    (("a[p=1]", "k2", "r1"), r"made for other inputs of a\[p=1\] than its record names"),
    (("a[p=1]", "k1", "r2"), r"made by another run of a\[p=1\] than its record names"),
])
def test_a_snapshot_is_bound_to_its_variant_key_and_run_at_every_check(tmp_path, other, problem):
    """The runner signs the binding in when it seals; every load for a record compares it, and a
    remembered full check (the .checked note) stands for the buffers' bytes only."""
    from nbgraph.notebook.inject import inherit
    from nbgraph.snapshot import checked
    from nbgraph.snapshot.format import binding, seal_snapshot

    snap, mine, wrong = tmp_path / "snap", binding("a[p=1]", "k1", "r1"), binding(*other)
    dump_namespace(namespace("import numpy as np\nbig = np.arange(100_000.0)\nx = 1"), snap, seal=False)
    seal_snapshot(snap, bind=mine)
    manifest = read_manifest(snap, expect=mine)
    assert checked.remembered(snap, snap / manifest["objects"], manifest)
    assert load_snapshot(snap, expect=mine)["x"] == 1 and seal_snapshot(snap, expect=mine)["binding"] == mine
    pattern = f"^{re.escape(str(snap))}: snapshot was {problem}; re-run its notebook with --force$"
    checks = [
        lambda: load_snapshot(snap, expect=wrong),  # the note says every byte was checked: not the binding
        lambda: load_snapshot(snap, verify_buffers=False, expect=wrong),
        lambda: seal_snapshot(snap, expect=wrong),  # the scheduler's check of an earlier run's snapshot
        lambda: read_manifest(snap, check_files=False, expect=wrong),  # status
        lambda: inherit([["a", str(snap), wrong]], verified=True, ns={}),  # the child kernel's (or zygote's) load
    ]
    for refused in checks:
        with pytest.raises(SnapshotError, match=pattern):
            refused()
    dump_namespace({"x": 1}, tmp_path / "unbound")  # outside a run: loads as any signed snapshot, not for a record
    assert load_snapshot(tmp_path / "unbound") == {"x": 1}
    with pytest.raises(SnapshotError, match=r"not bound to variant a\[p=1\] .*--force$"):
        load_snapshot(tmp_path / "unbound", expect=mine)


@pytest.mark.parametrize("field,value,message", [
    ("format", FORMAT_VERSION + 1, "snapshot format"),
    ("python", "2.7.18", "written by Python 2.7.18"),
    ("cloudpickle", "0.1.0", "cloudpickle 0.1.0"),
])
def test_version_mismatch_is_a_clear_error(snapshot, field, value, message):
    manifest = json.loads((snapshot / MANIFEST).read_text())
    manifest[field] = value
    (snapshot / MANIFEST).write_text(json.dumps(sign.sign(manifest)))   # validly signed, yet incompatible
    with pytest.raises(SnapshotError, match=f"{message}.*re-run its notebook with --force"):
        load_snapshot(snapshot)


def test_files_are_private_and_the_write_is_atomic(snapshot):
    assert oct(snapshot.stat().st_mode & 0o777) == "0o700"
    for name in (MANIFEST, STATE):
        assert oct((snapshot / name).stat().st_mode & 0o777) == "0o600"
    assert {oct(c.stat().st_mode & 0o777) for c in chunk_files(snapshot)} == {"0o400"}   # never written again
    assert not [p for p in snapshot.parent.iterdir() if p.name.endswith(".partial")]


def test_digests_tell_equal_values_from_different_ones(tmp_path):
    a = namespace("import numpy as np\nbig = np.arange(100_000.0)\nn = 1\nsame = {'k': [1, 2]}")
    b = namespace("import numpy as np\nx = 5\nbig = np.arange(100_000.0)\nsame = {'k': [1, 2]}\nn = 2")
    dump_namespace(a, tmp_path / "a")
    dump_namespace(b, tmp_path / "b")
    da = {e["name"]: e["digest"] for e in read_manifest(tmp_path / "a")["entries"]}
    db = {e["name"]: e["digest"] for e in read_manifest(tmp_path / "b")["entries"]}
    assert da["big"] == db["big"] and da["same"] == db["same"] and da["np"] == db["np"]
    assert da["n"] != db["n"]


def test_an_unsealed_snapshot_is_sealed_once_then_fully_checked(tmp_path):
    """In a run the kernel names its chunks as it writes them; the runner checks the rest and signs."""
    from nbgraph.snapshot.format import seal_snapshot

    parent = namespace("import numpy as np\nbig = np.arange(100_000.0)\nn = 1")
    dump_namespace(parent, tmp_path / "snap", seal=False)
    manifest = read_manifest(tmp_path / "snap", check_files="stream")
    assert not manifest["sealed"] and manifest["wrote"] == manifest["buffers"][0][1]
    with pytest.raises(SnapshotError, match="never sealed"):
        load_snapshot(tmp_path / "snap")
    assert load_snapshot(tmp_path / "snap", verify_buffers=False)["big"][-1] == 99_999.0

    sealed = seal_snapshot(tmp_path / "snap")
    assert sealed["sealed"] and read_manifest(tmp_path / "snap") == sealed
    dump_namespace(parent, tmp_path / "other")     # sealed as written: same digests
    digests = [{e["name"]: e["digest"] for e in read_manifest(p)["entries"]} for p in (tmp_path / "snap", tmp_path / "other")]
    assert digests[0]["big"] is not None and digests[0] == digests[1]


def test_a_full_check_is_remembered_until_the_file_changes(snapshot, monkeypatch):
    """One check of each chunk per process, and per machine and file version; a write voids it."""
    import time

    from nbgraph.snapshot import checked

    read_manifest(snapshot)                          # reads every chunk, leaves a signed note
    assert (snapshot / checked.NOTE).is_file()

    def no_reading(*args, **kwargs):
        raise AssertionError("a chunk was hashed again")

    monkeypatch.setattr(checked, "chunk_hash", no_reading)
    read_manifest(snapshot)                          # this process checked it
    checked._seen.clear()
    read_manifest(snapshot)                          # another run on this machine: the note
    load_snapshot(snapshot)
    monkeypatch.undo()

    note = json.loads((snapshot / checked.NOTE).read_text())
    first = next(iter(note["identity"]["chunks"]))
    note["identity"]["chunks"][first][2] += 1        # a forged note is not believed
    (snapshot / checked.NOTE).write_text(json.dumps(note))
    manifest = read_manifest(snapshot, check_files=False)
    assert not checked.remembered(snapshot, snapshot / manifest["objects"], manifest)
    checked._seen.clear()
    read_manifest(snapshot)                          # checks again, notes again
    time.sleep(0.05)                                 # (change times tick at a few ms)
    chunk = chunk_files(snapshot)[0]
    flip_byte(chunk, 8192)
    with pytest.raises(SnapshotError, match="does not match its name"):
        read_manifest(snapshot)
    assert not chunk.exists()                        # of use to nobody: a re-run writes it anew


def test_the_manifest_names_the_installed_modules_its_variables_come_from(tmp_path, monkeypatch):
    import collections
    import xml.dom.minidom

    from nbgraph.kernels.fork.imports import ahead_of, importable

    (tmp_path / "mylocal.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import mylocal

    class Mine:
        pass

    ns = {"arr": np.zeros(3), "dumps": json.dumps, "path": os.path, "kind": collections.OrderedDict,
          "mine": Mine(), "local": mylocal.Thing(), "docs": [xml.dom.minidom.Document()], "n": 3}
    dump_namespace(ns, tmp_path / "snap")
    modules = json.loads((tmp_path / "snap" / MANIFEST).read_text())["modules"]
    assert {"numpy", "json", "posixpath", "collections", "xml.dom.minidom"} <= set(modules)
    assert "mylocal" not in modules and not [m for m in modules if "test_snapshot_format" in m]
    assert ahead_of([tmp_path / "snap", tmp_path / "missing"]) == modules  # read through the signature
    assert importable("xml.dom.minidom") and importable("numpy")
    assert not importable("mylocal")  # a notebook's own module never runs in a zygote ahead of time
    assert not importable("os; import this") and not importable("")
