"""The rebuild planner on code strings: which statements rebuild a variable, and why not (no kernel)."""

from __future__ import annotations

import textwrap

import pytest

from nbgraph.notebook import safety, statements
from nbgraph.notebook.slicer import kind_of, plan

DB = "a database connection is not copied; connect again in the child"
LOCK = "a threading lock belongs to this process; create a new one in the child"
GEN = "a generator cannot be copied to another process; recreate it in the child"
FILE = "an open file is not copied (re-opening it could truncate it); open it again in the child"


def cells(*sources: str, bound: list[list[str]] | None = None) -> list[dict]:
    out = []
    for i, source in enumerate(sources):
        cell = {"source": textwrap.dedent(source).strip(), "cell": f"cell {i + 1}", "variant": "p", "ok": True}
        if bound is not None:
            cell["bound"] = bound[i]
        out.append(cell)
    return out


#: names these histories use as modules (the child's values would be modules)
MODULES = {"sqlite3", "time", "os", "np", "hashlib", "threading", "csv", "json", "io"}


def sliced(history, wanted, inherited=()):
    got = plan(history, wanted, lambda n: n in inherited, lambda n: n in inherited and n in MODULES)
    return {name: ([got.statements[k].source for k in s.keys] if s.reason is None else s.reason)
            for name, s in got.slices.items()}


def test_a_cell_that_connects_and_runs_a_slow_query_is_cut_to_the_connect():
    history = cells("import sqlite3, time", """
        conn = sqlite3.connect(path)
        rows = conn.execute("select * from t").fetchall()
        time.sleep(10)
        open("count.txt", "a").write("x")
    """)
    got = sliced(history, {"conn": ("sqlite3.Connection", DB)}, inherited={"sqlite3", "time", "path", "rows"})
    assert got == {"conn": ["conn = sqlite3.connect(path)"]}


def test_slicing_stops_at_inherited_names_but_recomputes_one_bound_again_later():
    history = cells("path = 'a.db'", "conn = sqlite3.connect(path)", "path = 'b.db'")
    got = sliced(history, {"conn": ("sqlite3.Connection", DB)}, inherited={"sqlite3", "path"})
    assert got == {"conn": ["path = 'a.db'", "conn = sqlite3.connect(path)"]}


def test_a_variable_built_from_one_not_inherited_brings_its_statement_along():
    history = cells("import sqlite3", "db = make_path()\nother = 1", "conn = sqlite3.connect(db)")
    got = sliced(history, {"conn": ("sqlite3.Connection", DB)}, inherited={"sqlite3", "make_path", "other"})
    assert got == {"conn": ["db = make_path()", "conn = sqlite3.connect(db)"]}


def test_a_generator_advanced_later_replays_what_advanced_it():
    history = cells("gen = (x * x for x in range(10))", "first = next(gen)", "print('hello')")
    got = sliced(history, {"gen": ("generator", GEN)}, inherited={"first"})
    assert got == {"gen": ["gen = (x * x for x in range(10))", "first = next(gen)"]}


def test_a_generator_advanced_by_a_statement_that_writes_is_not_rebuilt():
    history = cells("gen = iter_rows()", "with open('out.txt', 'w') as f:\n    f.write(str(next(gen)))")
    got = sliced(history, {"gen": ("generator", GEN)}, inherited={"iter_rows"})
    assert got["gen"].startswith("was advanced by cell 2 of p (with open('out.txt', 'w') as f:), which opens a file "
                                 "for writing (mode 'w'); nbgraph never replays a file write")


def test_a_connection_is_not_advanced_by_its_queries_but_keeps_its_settings():
    history = cells("conn = sqlite3.connect(':memory:')", "conn.row_factory = sqlite3.Row",
                    "df = conn.execute('select 1').fetchall()")
    got = sliced(history, {"conn": ("sqlite3.Connection", DB)}, inherited={"sqlite3", "df"})
    assert got == {"conn": ["conn = sqlite3.connect(':memory:')", "conn.row_factory = sqlite3.Row"]}


def test_a_file_opened_for_appending_is_never_replayed():
    history = cells("log = open('log.txt', 'a')")
    got = sliced(history, {"log": ("_io.TextIOWrapper", FILE)})
    assert got["log"] == ("needs cell 1 of p (log = open('log.txt', 'a')), which opens a file for appending "
                          "(mode 'a'); nbgraph never replays a file write")


def test_a_file_opened_for_reading_is_reopened_not_reread():
    history = cells("f = open('data.txt')\nheader = f.readline()")
    got = sliced(history, {"f": ("_io.TextIOWrapper", FILE)}, inherited={"header"})
    assert got == {"f": ["f = open('data.txt')"]}


def test_a_hash_object_replays_its_updates():
    history = cells("import hashlib\nh = hashlib.sha256()", "h.update(data)\ndigest = h.hexdigest()")
    got = sliced(history, {"h": ("_hashlib.HASH", "TypeError: cannot pickle '_hashlib.HASH' object")},
                 inherited={"hashlib", "data", "digest"})
    assert got == {"h": ["h = hashlib.sha256()", "h.update(data)", "digest = h.hexdigest()"]}


def test_missing_inputs_and_opaque_bindings_are_named():
    history = cells("exec('lock = make()')", "conn = sqlite3.connect(nowhere)", bound=[["lock"], ["conn"]])
    got = sliced(history, {"lock": ("_thread.lock", LOCK), "conn": ("sqlite3.Connection", DB)}, inherited={"sqlite3"})
    assert got["lock"] == "was bound by cell 1 of p in a way nbgraph cannot replay statement by statement"
    assert got["conn"] == ("needs cell 2 of p (conn = sqlite3.connect(nowhere)), which reads nowhere, "
                           "which is neither inherited nor bound by a recorded statement")


def test_a_statement_that_changes_an_inherited_object_is_not_replayed():
    history = cells("registry = {}", "conn = sqlite3.connect(':memory:')\nregistry['db'] = conn")
    got = sliced(history, {"conn": ("sqlite3.Connection", DB), "registry": ("dict", "holds an object ...")},
                 inherited={"sqlite3"})
    assert got["conn"] == ["conn = sqlite3.connect(':memory:')"]
    assert got["registry"] == ["registry = {}", "conn = sqlite3.connect(':memory:')", "registry['db'] = conn"]
    history = cells("gen = make()", "cache['first'] = next(gen)")
    got = sliced(history, {"gen": ("generator", GEN)}, inherited={"make", "cache"})
    assert got["gen"] == ("was advanced by cell 2 of p (cache['first'] = next(gen)), which changes the inherited "
                          "cache in place")


def test_the_statement_that_made_it_is_the_last_that_ran_and_bound_it():
    history = cells("lock = threading.Lock()", "if False:\n    lock = None", "lock = threading.RLock()",
                    bound=[["lock"], [], ["lock"]])
    assert sliced(history, {"lock": ("_thread.RLock", LOCK)}, inherited={"threading"}) == {
        "lock": ["lock = threading.RLock()"]}
    assert sliced(history[:2], {"lock": ("_thread.lock", LOCK)}, inherited={"threading"}) == {
        "lock": ["lock = threading.Lock()"]}


def test_a_cell_that_failed_in_the_parent_is_not_replayed():
    history = cells("conn = sqlite3.connect(':memory:')")
    history[0]["ok"] = False
    assert sliced(history, {"conn": ("sqlite3.Connection", DB)}, inherited={"sqlite3"})["conn"].endswith(
        "which raised an error in the parent")


def test_nothing_binds_it():
    assert sliced([], {"conn": ("sqlite3.Connection", DB)}) == {"conn": "is bound by no recorded statement"}


@pytest.mark.parametrize("code, why", [
    ("open('a.txt', 'w')", "opens a file for writing"),
    ("open('a.txt', mode)", "opens a file in a mode nbgraph cannot read"),
    ("df.to_csv('x.csv')", "calls .to_csv()"),
    ("os.remove('x')", "calls os.remove"),
    ("subprocess.run(['ls'])", "calls subprocess.run"),
    ("get_ipython().run_line_magic('time', 'x = 1')", "runs an IPython magic"),
    ("cur.execute('insert into t values (1)')", "runs SQL that may write (INSERT ...)"),
    ("cur.execute(query)", "runs SQL nbgraph cannot read"),
    ("df.dropna(inplace=True)", "changes an object in place"),
    ("exec('x = 1')", "runs code given as a string"),
    ("Path('a').open('a')", "opens a file for appending"),
])
def test_unsafe_statements(code, why):
    reason = safety.unsafe_reason(statements.split(code)[0].node)
    assert reason is not None and why in reason


@pytest.mark.parametrize("code", ["open('a.txt')", "open('a.txt', 'rb')", "cur.execute('select 1')",
                                  "sqlite3.connect(path)", "hashlib.sha256(b'x')", "s.replace('a', 'b')",
                                  "pd.read_csv('x.csv')", "df.dropna(inplace=False)"])
def test_safe_statements(code):
    assert safety.unsafe_reason(statements.split(code)[0].node) is None


def test_functions_the_history_defines_are_looked_into():
    stmts = statements.split("def save(x):\n    open('o.txt', 'w').write(x)\n\ndef load():\n    return open('i.txt').read()")
    functions = statements.defined_functions(stmts)
    assert "calls save(), which calls .write(), which writes files" in safety.unsafe_reason(statements.split("y = save(1)")[0].node,
                                                                                  functions)
    assert safety.unsafe_reason(statements.split("y = load()")[0].node, functions) is None


def test_free_names_leave_out_what_nested_scopes_bind():
    stmt = statements.split("total = sum(x * k for x in data) + (lambda y: y + z)(1)")[0]
    assert stmt.reads == {"sum", "k", "data", "z"} and stmt.binds == {"total"}
    stmt = statements.split("with open(p) as f:\n    for line in f:\n        n += 1")[0]
    assert stmt.binds == {"f", "line", "n"} and {"p", "n", "open"} <= stmt.reads


def test_kinds():
    assert kind_of("_io.TextIOWrapper", FILE) == "file"
    assert kind_of("sqlite3.Connection", DB) == "handle" and kind_of("_thread.lock", LOCK) == "handle"
    assert kind_of("generator", GEN) == "stateful" and kind_of("_hashlib.HASH", "TypeError") == "stateful"


def test_a_with_statement_reads_its_own_target_as_bound():
    history = cells("with open('blob.bin', 'rb') as f:\n    data = f.read()")
    assert sliced(history, {"f": ("_io.BufferedReader", FILE)}, inherited={"data"}) == {
        "f": ["with open('blob.bin', 'rb') as f:\n    data = f.read()"]}


@pytest.mark.parametrize("code", ["logging.FileHandler('study.log')", "FileHandler('a.log')",
                                  "zipfile.ZipFile('a.zip', 'w')", "logging.basicConfig(filename='x.log')"])
def test_constructors_that_open_files_for_writing(code):
    assert "opens a file for writing or appending" in safety.unsafe_reason(statements.split(code)[0].node)
    assert safety.unsafe_reason(statements.split("zipfile.ZipFile('a.zip')")[0].node) is None


def test_the_rebuild_key_is_validated(project):
    from nbgraph.errors import SpecError
    from nbgraph.spec import load_spec

    project.notebook("a.ipynb", "x = 1")
    assert load_spec(project.spec("notebooks:\n  a: {path: a.ipynb}\n")).nodes["a"].rebuild
    assert not load_spec(project.spec("notebooks:\n  a: {path: a.ipynb, rebuild: false}\n")).nodes["a"].rebuild
    with pytest.raises(SpecError, match=r"inheritance.yaml:3: node 'a', field 'rebuild': must be true or false"):
        load_spec(project.spec("notebooks:\n  a:\n    rebuild: 1\n    path: a.ipynb\n"))


def test_a_statement_calling_a_method_of_an_inherited_object_is_never_replayed():
    """``results.append(next(gen))`` would change the child's inherited ``results`` (a shallow scratch copy shares it)."""
    history = cells("results = []", "gen = (x for x in range(5))", "results.append(next(gen))")
    got = sliced(history, {"gen": ("generator", GEN)}, inherited={"results"})
    assert isinstance(got["gen"], str) and "results" in got["gen"], got
    fresh = sliced(history, {"gen": ("generator", GEN)}, inherited=set())   # results recomputed in the scratch
    assert fresh == {"gen": ["results = []", "gen = (x for x in range(5))", "results.append(next(gen))"]}
