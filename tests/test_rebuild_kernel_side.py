"""The kernel-side pieces of a rebuild, in this process: the recorder on a real IPython shell (no
kernel), and the replay on a real namespace and real files."""

from __future__ import annotations

import io
import sqlite3

import pytest

from nbgraph.notebook import history
from nbgraph.notebook.rebuild import rebuild, unrebuildable

DB = "a database connection is not copied; connect again in the child"
FILE = "an open file is not copied (re-opening it could truncate it); open it again in the child"
GEN = "a generator cannot be copied to another process; recreate it in the child"


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    history.reset()
    yield shell
    history.reset()


def test_the_recorder_keeps_each_cell_with_what_it_bound_and_read(shell, tmp_path):
    shell.run_cell("started = 1\nfrom nbgraph.notebook import history as h\n"  # as nbgraph's injected cell does
                   "h.start('p', 'p.ipynb', [['a', 'the parameters'], ['b', 'cell 2'], ['c', 'cell 3']])\ndel h")
    shell.run_cell("n = 3")
    shell.run_cell("%time total = n * 2\nsame = started")
    shell.run_cell("raise ValueError('no')")
    made = history.finish(shell.user_ns)
    cells = made["cells"]
    assert [c["cell"] for c in cells] == ["the parameters", "cell 2", "cell 3"]  # the starting cell is not recorded
    assert cells[0]["bound"] == ["n"] and cells[0]["read"] == [] and cells[0]["ok"]
    assert set(cells[1]["bound"]) == {"total", "same"}  # `same` is bound: a new name, though not a new object
    assert "run_line_magic" in cells[1]["source"]  # the code as IPython ran it
    assert cells[2]["ok"] is False
    assert cells[0]["variant"] == "p" and cells[0]["notebook"] == "p.ipynb"
    shell.run_cell("after = 1")  # recording stopped
    assert len(history.finish(shell.user_ns)["cells"]) == 0


def test_inherited_history_comes_first(shell):
    shared = {"cell": "cell 1", "variant": "grandparent", "source": "x = 1", "bound": ["x"], "ok": True}
    history.adopt([shared])
    history.adopt([shared])  # a diamond: both parents pass the grandparent's cells down
    history.start("child", "child.ipynb")
    shell.run_cell("y = 2")
    cells = history.finish(shell.user_ns)["cells"]
    assert [c["variant"] for c in cells] == ["grandparent", "child"]


def test_open_files_are_recorded_with_their_position(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("a\nb\nc\n")
    reader, closed = open(data), open(data)
    reader.readline()
    closed.close()
    states = history.file_states({"reader": reader, "closed": closed, "memory": io.StringIO("x")})
    assert states["reader"] == {"path": str(data), "mode": "r", "closed": False, "position": 2}
    assert states["closed"]["closed"] and "memory" not in states
    reader.close()


def _manifest(cells: list[tuple[str, str]], skipped: list[tuple[str, str, str]], files=None) -> dict:
    return {"skipped": [{"name": n, "type": t, "reason": r} for n, t, r in skipped],
            "history": {"cells": [{"cell": label, "variant": "p", "notebook": "p.ipynb", "source": code, "ok": True}
                                  for label, code in cells], "files": files or {}}}


def test_a_replay_rebuilds_into_the_namespace_and_never_overwrites(tmp_path, capsys):
    data = tmp_path / "data.txt"
    data.write_text("one\ntwo\nthree\n")
    manifest = _manifest(
        [("cell 1", "import sqlite3\nrows = 5"), ("cell 2", f"print('noise')\nconn = sqlite3.connect(':memory:')\n"
                                                        f"f = open({str(data)!r})\nheader = f.readline()\ngen = iter(range(5))"),
         ("cell 3", "next(gen)"), ("cell 4", "taken = sqlite3.connect(':memory:')")],
        [("conn", "sqlite3.Connection", DB), ("f", "_io.TextIOWrapper", FILE), ("gen", "range_iterator", "x"),
         ("taken", "sqlite3.Connection", DB)],
        files={"f": {"path": str(data), "mode": "r", "closed": False, "position": 4}})
    ns = {"sqlite3": sqlite3, "rows": 5, "header": "one\n", "taken": "the child's own"}
    done = rebuild(ns, [("p", manifest, [])])
    assert {r["name"] for r in done.rebuilt} == {"conn", "f", "gen"}
    assert ns["conn"].execute("select 1").fetchone() == (1,) and ns["f"].readline() == "two\n"
    assert next(ns["gen"]) == 1 and ns["taken"] == "the child's own"
    assert capsys.readouterr().out == ""  # the parent's output is not the child's
    assert set(ns) == {"sqlite3", "rows", "header", "taken", "conn", "f", "gen"}  # nothing else taken back
    conn = next(r for r in done.rebuilt if r["name"] == "conn")
    assert conn == {**conn, "cell": "cell 2", "variant": "p", "notebook": "p.ipynb", "statements": 1}
    ns["f"].close()


def test_what_cannot_be_rebuilt_is_named_with_why(tmp_path):
    manifest = _manifest(
        [("cell 1", "log = open('log.txt', 'a')\ngen = (i for i in range(3))"), ("cell 2", "broken = 1 / 0"),
         ("cell 3", "with open('out.txt', 'w') as out:\n    out.write(str(next(gen)))")],
        [("log", "_io.TextIOWrapper", FILE), ("gen", "generator", GEN), ("broken", "generator", GEN)],
        files={"log": {"path": str(tmp_path / "log.txt"), "mode": "a", "closed": False, "position": 0}})
    ns: dict = {}
    done = rebuild(ns, [("p", manifest, [])])
    why = {m["name"]: m["not_rebuilt"] for m in done.not_inherited}
    assert why["log"].startswith("not rebuilt: it was open for appending (mode 'a'); nbgraph never replays a file write")
    assert why["gen"].startswith("not rebuilt: it was advanced by cell 3 of p (with open('out.txt', 'w') as out:)")
    assert why["broken"] == "not rebuilt: replaying cell 2 of p failed: ZeroDivisionError: division by zero"
    assert not done.rebuilt and ns == {} and not (tmp_path / "out.txt").exists()
    assert all(m["reason"].startswith(m["not_copied"]) for m in done.not_inherited)


def test_rebuild_off_and_no_history_are_said():
    manifest = _manifest([("cell 1", "import threading\nlock = threading.Lock()")], [("lock", "_thread.lock", "x")])
    done = rebuild({}, [("p", manifest, [])], enabled=False)
    assert done.not_inherited[0]["not_rebuilt"] == "not rebuilt (rebuilding is off for this node)"
    done = rebuild({}, [("live", {"skipped": manifest["skipped"]}, [])])
    assert done.not_inherited[0]["not_rebuilt"].startswith("not rebuilt: live kept no record of the statements that made it")


def test_the_later_parent_wins_and_its_history_is_used():
    first = _manifest([("cell 1", "import threading\nlock = threading.Lock()")], [("lock", "_thread.lock", "x")])
    second = _manifest([("cell 1", "import threading\nlock = threading.RLock()")], [("lock", "_thread.RLock", "x")])
    ns: dict = {}
    done = rebuild(ns, [("a", first, []), ("b", second, [])])
    assert [r["source"] for r in done.rebuilt] == ["b"] and type(ns["lock"]).__name__ == "RLock"


def test_strict_asks_whether_a_child_could_rebuild():
    made = {"cells": [{"cell": "cell 1", "variant": "p", "source": "import threading\nlock = threading.Lock()\n"
                                                                    "log = open('log.txt', 'a')", "ok": True}]}
    skipped = [{"name": "lock", "type": "_thread.lock", "reason": "x"}, {"name": "log", "type": "_io.TextIOWrapper",
                                                                          "reason": FILE}]
    assert list(unrebuildable(skipped, made, lambda n: n == "threading")) == ["log"]


def test_a_temporary_file_is_named_not_reopened_empty():
    import tempfile

    with tempfile.TemporaryFile() as scratch:
        scratch.write(b"x")
        states = history.file_states({"scratch": scratch})
        assert states["scratch"]["path"] is None
        manifest = _manifest([("cell 1", "import tempfile\nscratch = tempfile.TemporaryFile()")],
                             [("scratch", "_io.BufferedRandom", FILE)], files=states)
        done = rebuild({"tempfile": tempfile}, [("p", manifest, [])])
    assert done.not_inherited[0]["not_rebuilt"] == ("not rebuilt: it is a file without a name (a temporary file): "
                                                    "its content cannot be opened again")
