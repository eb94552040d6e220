"""Every variable arrives: what a snapshot cannot copy is rebuilt in the child from the parent's own
statements, in real kernels driven by real papermill runs, forked and fresh alike."""

from __future__ import annotations

import json

import pytest

from conftest import outputs_of

pytestmark = pytest.mark.slow

PARENT = [
    """
    import hashlib, sqlite3, threading, time
    """,
    """
    open("slow.txt", "a").write("ran\\n")   # counts how often this slow cell runs
    time.sleep(1)
    total = 42
    """,
    """
    conn = sqlite3.connect("study.db")
    conn.execute("create table if not exists t (x)")
    conn.execute("insert into t values (1)")
    conn.commit()
    rows = conn.execute("select count(*) from t").fetchall()
    time.sleep(0.5)
    """,
    """
    reader = open("data.txt")
    header = reader.readline()
    lock = threading.Lock()
    digest = hashlib.sha256()
    digest.update(b"abc")
    squares = (i * i for i in range(10))
    fresh = (i for i in range(3))
    """,
    "first = next(squares)",
    """
    log = open("log.txt", "a")
    log.write("written by the parent\\n")
    log.flush()
    db_path = "other.db"
    other = sqlite3.connect(db_path)
    cursor = conn.cursor()
    """,
]

CHILD = """
    print("conn", conn.execute("select count(*) from t").fetchall(), rows)
    print("reader", header.strip(), reader.readline().strip())
    print("lock", lock.acquire(blocking=False))
    print("digest", digest.hexdigest() == hashlib.sha256(b"abc").hexdigest())
    print("squares", first, next(squares))
    print("fresh", list(fresh))
    print("other", other.execute("select 1").fetchall(), "cursor", cursor.connection is conn)
    print("names", "db_path" in globals(), "log" in globals(), total)
"""
HOW = 'import sys\nprint("forked", "nbgraph.kernels.fork.child" in sys.modules)'

EXPECTED = [
    "conn [(1,)] [(1,)]",
    "reader line 1 line 2",
    "lock True",
    "digest True",
    "squares 0 1",
    "fresh [0, 1, 2]",
    "other [(1,)] cursor True",
    "names False False 42",
]
#: the child read a line, advanced squares twice and emptied fresh: the grandchild starts from there
GRANDCHILD = [line.replace("line 2", "line 3").replace("squares 0 1", "squares 0 9").replace("[0, 1, 2]", "[]")
              for line in EXPECTED]

SPEC = """
fork: {fork}
notebooks:
  parent: {{path: parent.ipynb, exclude: [db_path]}}
  child: {{path: child.ipynb, parent: parent}}
  grandchild: {{path: grandchild.ipynb, parent: child}}
"""


def _study(project, fork: bool):
    (project.root / "data.txt").write_text("line 1\nline 2\nline 3\n")
    project.notebook("parent.ipynb", *PARENT)
    project.notebook("child.ipynb", CHILD, "extra = next(squares)", HOW)
    project.notebook("grandchild.ipynb", CHILD, HOW)
    project.spec(SPEC.format(fork=str(fork).lower()))
    return project.cli("run")


@pytest.fixture(scope="module", params=[True, False], ids=["forked", "fresh"])
def ran(request, tmp_path_factory):
    from conftest import run_cli

    root = tmp_path_factory.mktemp("forked" if request.param else "fresh")

    class Project:
        pass

    project = Project()
    project.root = root
    from conftest import write_notebook, write_spec

    project.notebook = lambda rel, *cells: write_notebook(root / rel, *cells)
    project.spec = lambda text: write_spec(root, text)
    project.cli = lambda *args: run_cli(*args, cwd=root)
    run = _study(project, request.param)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    return request.param, root, run, rows


def _lines(root, node: str) -> list[str]:
    return [line for line in outputs_of(root / "build" / node / "default" / f"{node}.ipynb")[1].splitlines() if line]


def test_the_child_uses_each_variable_as_if_it_had_run_the_parent(ran):
    fork, root, _, _ = ran
    assert _lines(root, "child") == EXPECTED
    how = outputs_of(root / "build/child/default/child.ipynb")[3]
    assert how == f"forked {fork}\n"


def test_the_slow_cell_ran_once_and_the_append_mode_file_is_untouched(ran):
    _, root, _, _ = ran
    assert (root / "slow.txt").read_text() == "ran\n"
    assert (root / "log.txt").read_text() == "written by the parent\n"


def test_each_variable_is_reported_inherited_rebuilt_or_not_inherited_with_why(ran):
    _, root, run, rows = ran
    child = rows["child"]
    rebuilt = {r["name"]: r for r in child["rebuilt"]}
    assert set(rebuilt) == {"conn", "reader", "lock", "digest", "squares", "fresh", "other", "cursor"}
    assert rebuilt["conn"] == {**rebuilt["conn"], "type": "sqlite3.Connection", "variant": "parent",
                               "notebook": "parent.ipynb", "cell": "cell 3", "statements": 1}
    assert rebuilt["other"]["statements"] == 2  # its own connect and the excluded db_path it was made from
    assert rebuilt["squares"]["statements"] == 2  # made in cell 4, advanced by cell 5
    missing = {m["name"]: m for m in child["not_inherited"]}
    assert set(missing) == {"log"}
    assert missing["log"]["reason"].endswith("not rebuilt: it was open for appending (mode 'a'); nbgraph never "
                                             "replays a file write: open it again in the child")
    assert child["rebuild_seconds"] is not None and child["rebuild_seconds"] < 1.0  # not the parent's 1.5 s of sleeps
    note = outputs_of(root / "build/child/default/child.ipynb")[0]
    assert note.startswith("nbgraph: inherited ") and "  rebuilt: conn (sqlite3.Connection) from cell 3 of parent" in note
    assert "  not inherited: log (_io.TextIOWrapper): " in note and "rebuilt 8 variables in " in note
    assert "rebuilt in child (" in run.stdout and "conn (sqlite3.Connection, from cell 3 of parent)" in run.stdout
    assert "not inherited by child: log (_io.TextIOWrapper): " in run.stdout


def test_a_grandchild_rebuilds_from_its_grandparents_history(ran):
    _, root, _, rows = ran
    assert _lines(root, "grandchild") == GRANDCHILD
    rebuilt = {r["name"]: r for r in rows["grandchild"]["rebuilt"]}
    assert rebuilt["conn"]["variant"] == "parent" and rebuilt["conn"]["cell"] == "cell 3"
    assert rebuilt["squares"]["statements"] == 4  # made by the grandparent, advanced by it and twice by the child


def test_forked_and_fresh_kernels_agree(ran):
    fork, root, _, rows = ran
    if fork:
        pytest.skip("compared from the fresh run")
    forked = [p for p in root.parent.iterdir() if p.name.startswith("forked")]
    assert forked, "the forked run left no folder to compare with (it runs first: do not deselect it)"
    for other in forked:
        for node in ("child", "grandchild"):
            assert _lines(other, node) == _lines(root, node)


@pytest.mark.parametrize("how", ["node", "flag"])
def test_rebuild_can_be_turned_off(project, how):
    project.notebook("p.ipynb", "import threading\nlock = threading.Lock()\nkept = 1")
    project.notebook("c.ipynb", "print('lock' in globals(), kept)")
    off = ", rebuild: false" if how == "node" else ""
    project.spec(f"notebooks:\n  p: {{path: p.ipynb}}\n  c: {{path: c.ipynb, parent: p{off}}}\n")
    run = project.cli("run", *(["--no-rebuild"] if how == "flag" else []))
    assert run.returncode == 0, run.stdout + run.stderr
    assert outputs_of(project.root / "build/c/default/c.ipynb")[1] == "False 1\n"
    row = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}["c"]
    assert row["rebuilt"] == [] and row["not_inherited"][0]["reason"].endswith("rebuilding is off for this node)")


def test_strict_fails_only_on_what_can_be_neither_copied_nor_rebuilt(project):
    project.notebook("ok.ipynb", "import threading\nlock = threading.Lock()")
    project.notebook("bad.ipynb", "log = open('log.txt', 'a')")
    project.notebook("off.ipynb", "import threading\nlock = threading.Lock()")
    project.spec("""
        notebooks:
          ok: {path: ok.ipynb, strict: true}
          bad: {path: bad.ipynb, strict: true}
          plain: {path: off.ipynb, strict: true, rebuild: false}
          loose: {path: bad.ipynb}
          kid: {path: off.ipynb, parent: loose, strict: true}
    """)
    run = project.cli("run")
    assert run.returncode == 1
    rows = {r["name"]: r for r in json.loads(project.cli("status", "--json").stdout)}
    assert rows["ok"]["status"] == "succeeded"
    assert rows["bad"]["status"] == "failed" and "strict mode: cannot snapshot or rebuild log" in rows["bad"]["error"]
    assert rows["plain"]["status"] == "failed" and "strict mode: cannot snapshot lock" in rows["plain"]["error"]
    assert rows["loose"]["status"] == "succeeded"  # a strict child fails on what its parent passed down neither way
    assert rows["kid"]["status"] == "failed" and "strict mode: log arrived neither copied nor rebuilt" in rows["kid"]["error"]


def test_debug_from_a_variant_applies_the_same_rebuild(project):
    project.notebook("p.ipynb", "import sqlite3\nconn = sqlite3.connect(':memory:')\nconn.row_factory = sqlite3.Row")
    project.notebook("c.ipynb", "print(conn)")
    spec = project.spec("notebooks:\n  p: {path: p.ipynb}\n  c: {path: c.ipynb, parent: p}\n")
    assert project.cli("run").returncode == 0
    from nbgraph import inherit_from

    ns: dict = {}
    summary = inherit_from("c", spec=spec, into=ns)
    assert ns["conn"].row_factory is ns["sqlite3"].Row and ns["conn"].execute("select 1").fetchone()[0] == 1
    assert [r["name"] for r in summary.rebuilt] == ["conn"] and not summary.skipped
    assert "rebuilt in " in repr(summary) and "conn (sqlite3.Connection, cell 1 of p)" in repr(summary)


def test_the_history_is_signed_with_the_snapshot(project):
    project.notebook("p.ipynb", "import threading\nlock = threading.Lock()")
    project.notebook("c.ipynb", "print(lock)")
    project.spec("notebooks:\n  p: {path: p.ipynb}\n  c: {path: c.ipynb, parent: p}\n")
    assert project.cli("run", "--only", "p").returncode == 0
    snapshot = json.loads((project.root / "build/p/default/record.json").read_text())["snapshot"]
    manifest_path = project.root / snapshot / "manifest.json" if not snapshot.startswith("/") else None
    manifest_path = manifest_path or __import__("pathlib").Path(snapshot) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert [c["cell"] for c in manifest["history"]["cells"]] == ["cell 1"]
    manifest["history"]["cells"][0]["source"] = "import os\nlock = os.system('touch pwned')"
    manifest_path.write_text(json.dumps(manifest))
    run = project.cli("run", "--only", "c")
    assert run.returncode == 1 and "signature" in run.stdout + run.stderr
    assert not (project.root / "pwned").exists()
