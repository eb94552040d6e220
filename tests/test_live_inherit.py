"""inherit_from a live parent: a real jupyter server, real notebook sessions and kernels."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import pytest
from conftest import chunk_files

from jupyter_live import JupyterServer, KernelCellError, live_server
from nbgraph import inherit_from
from nbgraph.errors import Ambiguous, KernelBusy, KernelDied, LiveError, NoServer, NotOpen, ParentRaised, SelectionError

pytestmark = pytest.mark.slow  # a real Jupyter server and its kernels

BASE_CELLS = (
    "import numpy as np\nx = 'Hey!'\narr = np.arange(6)\nalias = arr",
    "class Point:\n    def __init__(self, v): self.v = v\n    def twice(self): return self.v * 2\n"
    "def shout(): return x.upper()\np = Point(21)",
    "gen = (i for i in range(3))",
)


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("jupyter")) as server:
        yield server


@pytest.fixture(scope="module")
def base(jupyter):
    return jupyter.open("base.ipynb", *BASE_CELLS)


def test_child_kernel_inherits_live_parent_and_parent_is_untouched(jupyter, base):
    before = base.namespace()
    child = jupyter.open("child.ipynb")
    out = child.run("from nbgraph import inherit_from\nsummary = inherit_from('base.ipynb')\nprint(repr(summary))")
    assert "inherited" in out and "base.ipynb" in out
    assert "rebuilt in " in out and "gen (generator, In [3] of base.ipynb)" in out  # from the parent's input history
    got = child.run("print(x, arr.sum(), alias is arr, p.twice(), isinstance(p, Point), shout())")
    assert got.split() == ["Hey!", "15", "True", "42", "True", "HEY!"]
    # nothing shared: the child's redefinition stays in the child
    child.run("x = 'Bye!'\narr[0] = 100")
    assert child.run("print(shout())").strip() == "BYE!"
    # the parent's namespace (In/Out/_ and the execution count included) is as it was
    assert base.namespace() == before
    assert base.run("print(x, arr[0])").split() == ["Hey!", "0"]
    child.close()


def test_parent_history_namespace_and_settings_unchanged_by_the_dump(jupyter, base, tmp_path):
    base.run("__import__('dill').settings['recurse'] = True")  # the user's own pickling setting (binds no name)
    before = base.namespace()
    summary = inherit_from(jupyter.root / "base.ipynb", into={})
    assert "x" in summary.variables
    assert base.namespace() == before  # In, _ih, Out, _, execution count: the dump left no trace
    assert base.run("print(__import__('dill').settings['recurse'])").strip() == "True"


def test_summary_reports_variables_skips_and_renders(jupyter, base):
    ns: dict = {"x": "mine"}
    summary = inherit_from(jupyter.root / "base.ipynb", into=ns)
    assert ns["x"] == "Hey!" and list(ns["arr"]) == list(range(6))
    assert summary.variables["arr"][0] == "numpy.ndarray"
    assert summary.skipped == []  # the generator is rebuilt from the parent's input history
    assert [(r["name"], r["type"], r["cell"], r["source"]) for r in summary.rebuilt] == [
        ("gen", "generator", "In [3]", "base.ipynb")]
    assert list(ns["gen"]) == [0, 1, 2]
    assert summary.replaced == ["x"]
    for junk in ("In", "Out", "_ih", "_oh", "open", "get_ipython", "_", "exit"):
        assert junk not in ns
    text, page = repr(summary), summary._repr_html_()
    assert "inherited 7 variables from base.ipynb" in text and "replaced your own: x" in text
    assert "<table>" in page and "<code>gen</code>" in page and "generator" in page
    assert jupyter.token not in text + page


def test_path_relative_to_caller_root_or_absolute(jupyter, base, monkeypatch, tmp_path):
    jupyter.open("sub/base.ipynb", "x = 'sub'")
    monkeypatch.chdir(jupyter.root / "sub")
    assert _x("base.ipynb") == "sub"  # beside the caller wins
    assert _x("../base.ipynb") == "Hey!"
    monkeypatch.chdir(tmp_path)
    assert _x("base.ipynb") == "Hey!"  # relative to the server's root
    assert _x("sub/base.ipynb") == "sub"
    assert _x(str(jupyter.root / "sub" / "base.ipynb")) == "sub"
    jupyter.open("my notes/données.ipynb", "x = 'spaced'")
    assert _x("my notes/données.ipynb") == "spaced"


def _x(name: str) -> str:
    ns: dict = {}
    inherit_from(name, into=ns)
    return ns["x"]


def test_mixins_merge_in_order_and_report_collisions(jupyter, monkeypatch):
    jupyter.open("mix_a.ipynb", "shared = 'a'\nonly_a = 1\nsame = [1]")
    jupyter.open("mix_b.ipynb", "shared = 'b'\nonly_b = 2\nsame = [1]")
    monkeypatch.chdir(jupyter.root)
    ns: dict = {}
    summary = inherit_from("mix_a.ipynb", "mix_b.ipynb", into=ns)
    assert (ns["shared"], ns["only_a"], ns["only_b"]) == ("b", 1, 2)
    assert summary.collisions == {"shared": ["mix_a.ipynb", "mix_b.ipynb"]}  # same value twice is no clash
    assert summary.variables["shared"][1] == "mix_b.ipynb"
    assert "set to different values by several parents, later wins: shared (mix_a.ipynb < mix_b.ipynb)" in repr(summary)
    inherit_from("mix_b.ipynb", "mix_a.ipynb", into=ns)
    assert ns["shared"] == "a"


def test_explicit_server_and_token(jupyter, base):
    ns: dict = {}
    inherit_from(jupyter.root / "base.ipynb", into=ns, server=jupyter.url, token=jupyter.token)
    assert ns["x"] == "Hey!"
    ns = {}
    inherit_from("base.ipynb", into=ns, server=f"{jupyter.url}?token={jupyter.token}")  # moved to the header
    assert ns["x"] == "Hey!"
    with pytest.raises(NoServer) as err:  # an explicit token wins over the runtime file's
        inherit_from("base.ipynb", into={}, server=jupyter.url, token="wrong-" + jupyter.token)
    assert "token rejected" in str(err.value) and jupyter.token not in str(err.value)


def test_no_server_running(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(NoServer, match="no running Jupyter server found"):
        inherit_from("base.ipynb", into={})


def test_not_open_lists_open_notebooks(jupyter, base, monkeypatch):
    monkeypatch.chdir(jupyter.root)
    with pytest.raises(NotOpen) as err:
        inherit_from("nowhere.ipynb", into={})
    message = str(err.value)
    assert message.startswith("nowhere.ipynb is not open in any running Jupyter server")
    assert "base.ipynb" in message and jupyter.url in message and jupyter.token not in message


def test_variant_name_without_spec_is_a_clear_error():
    with pytest.raises(SelectionError, match=r"pass its spec: inherit_from\('train\[model=ridge\]', spec="):
        inherit_from("train[model=ridge]", into={})


def test_open_in_two_servers_is_ambiguous_until_server_is_given(jupyter, base, tmp_path, monkeypatch):
    second = JupyterServer(tmp_path / "second", root=jupyter.root, runtime=jupyter.runtime)
    try:
        other = second.open("base.ipynb")
        other.run("x = 'second'")
        monkeypatch.chdir(jupyter.root)
        with pytest.raises(Ambiguous) as err:
            inherit_from("base.ipynb", into={})
        message = str(err.value)
        assert jupyter.url in message and second.url in message and "server=" in message
        assert jupyter.token not in message and second.token not in message
        ns: dict = {}
        inherit_from("base.ipynb", into=ns, server=second.url)  # token taken from its runtime file
        assert ns["x"] == "second"
    finally:
        second.stop()


def test_busy_kernel_times_out_and_is_left_alone(jupyter, monkeypatch):
    busy = jupyter.open("busy.ipynb", "y = 1")
    busy.start("import time\ntime.sleep(60)")
    _wait_state(jupyter, busy.kernel_id, "busy")
    monkeypatch.chdir(jupyter.root)
    started = time.monotonic()
    with pytest.raises(KernelBusy, match=r"busy for more than 1.5 s"):
        inherit_from("busy.ipynb", into={}, timeout=1.5)
    assert time.monotonic() - started < 10
    busy.interrupt()
    _wait_state(jupyter, busy.kernel_id, "idle")
    live = Path(os.environ["NBGRAPH_LIVE_DIR"])
    assert not [p for p in live.rglob("*") if p.name.startswith(busy.kernel_id[:8])]  # no dump was queued


def test_dead_kernel(jupyter, monkeypatch):
    doomed = jupyter.open("doomed.ipynb", "z = 1")
    pid = int(doomed.run("import os\nprint(os.getpid())"))
    os.kill(pid, signal.SIGKILL)
    monkeypatch.chdir(jupyter.root)
    with pytest.raises(LiveError) as err:  # dead, restarted empty, or gone: never a silent empty state
        inherit_from("doomed.ipynb", into={}, timeout=20)
    assert isinstance(err.value, (KernelDied, NotOpen)), err.value


def test_error_inside_parent_is_surfaced(jupyter, monkeypatch):
    broken = jupyter.open("broken.ipynb", "w = 1\nimport sys\nsys.modules['nbgraph.notebook.live_dump'] = None")
    monkeypatch.chdir(jupyter.root)
    with pytest.raises(ParentRaised, match="nbgraph is not importable in the kernel of broken.ipynb"):
        inherit_from("broken.ipynb", into={})
    assert broken.run("print(w)").strip() == "1"  # the parent goes on as before


def test_a_parent_kernel_with_an_older_nbgraph_is_named(jupyter, monkeypatch):
    jupyter.open("older.ipynb", "import sys, types\nolder = types.ModuleType('nbgraph.notebook.live_dump')\n"
                 "def dump(ns, dest, exclude=(), key_file=None, strict=False): pass\n"
                 "older.dump = dump\nsys.modules['nbgraph.notebook.live_dump'] = older")
    monkeypatch.chdir(jupyter.root)
    with pytest.raises(ParentRaised, match="the kernel of older.ipynb .*runs another nbgraph version .*"
                                           "install the same nbgraph version in that kernel's environment"):
        inherit_from("older.ipynb", into={})


def test_inheriting_from_own_kernel_is_refused(jupyter, base):
    with pytest.raises(KernelCellError, match="runs in this very kernel"):
        base.run("__import__('nbgraph').inherit_from('base.ipynb')")


def test_snapshots_are_private_and_hold_no_token(jupyter, base):
    inherit_from(jupyter.root / "base.ipynb", into={})
    live = Path(os.environ["NBGRAPH_LIVE_DIR"])
    entries = list(live.rglob("*"))
    assert entries
    for path in entries:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        if path.is_file():
            assert jupyter.token.encode() not in path.read_bytes()


def _wait_state(jupyter, kernel_id: str, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while jupyter.api("GET", f"api/kernels/{kernel_id}")["execution_state"] != state:
        assert time.monotonic() < deadline, f"kernel never became {state}"
        time.sleep(0.05)


def test_kernels_that_cannot_share_a_snapshot_are_refused_before_dumping():
    import platform

    from nbgraph.live.kernel import _check_language
    from nbgraph.live.servers import Server, Session

    session = Session(server=Server(url="http://127.0.0.1:1/"), path="stats.ipynb", kernel_id="0123456789")
    with pytest.raises(LiveError, match="stats.ipynb .* runs a R kernel; nbgraph copies the state of Python kernels only"):
        _check_language(session, {"name": "R", "version": "4.3.1"})
    with pytest.raises(LiveError, match="runs Python 3.8.10 and this is Python"):
        _check_language(session, {"name": "python", "version": "3.8.10"})
    _check_language(session, {"name": "python", "version": platform.python_version()})


def test_a_dump_from_another_environment_says_what_to_do_and_leaves_nothing(jupyter, monkeypatch):
    # the parent kernel's environment has another cloudpickle than this one (as the manifest records it)
    jupyter.open("elsewhere.ipynb", "import cloudpickle\ncloudpickle.__version__ = '1.0.0'\nfar = 1")
    monkeypatch.chdir(jupyter.root)
    with pytest.raises(LiveError) as err:
        inherit_from("elsewhere.ipynb", into={})
    message = str(err.value)
    assert message.startswith("the state dumped by the kernel of elsewhere.ipynb cannot be loaded here: "
                              "snapshot was written with cloudpickle 1.0.0"), message
    assert "same nbgraph and cloudpickle versions" in message and "--force" not in message
    leftovers = [p for p in Path(os.environ["NBGRAPH_LIVE_DIR"]).rglob("manifest.json")
                 if "elsewhere" in p.read_text() or "1.0.0" in p.read_text()]
    assert not leftovers, leftovers  # the refused dump is removed, not kept until this process exits


def test_large_arrays_of_a_live_parent_are_stored_once_however_often_inherited(jupyter, monkeypatch):
    """The parent names its chunks as it writes them; dumping it again unchanged writes none."""
    jupyter.open("arrays.ipynb", "import numpy as np\nbig = np.arange(3_000_000.0)\nview = big[::2]")
    monkeypatch.chdir(jupyter.root)
    ns: dict = {}
    summary = inherit_from("arrays.ipynb", into=ns)
    assert ns["big"].sum() == 2_999_999 * 3_000_000 / 2 and ns["view"].base is not None
    manifest_path = Path(summary.sources[0].snapshot) / "manifest.json"
    import json

    manifest = json.loads(manifest_path.read_text())
    assert manifest["sealed"] and manifest["buffers"] and (manifest_path.parent / ".checked").is_file()
    chunks = chunk_files(manifest_path.parent)
    assert len(chunks) >= 6 and all(c.is_file() for c in chunks)
    first = {c: c.stat().st_ino for c in chunks}

    again = inherit_from("arrays.ipynb", into={})      # the same state: no chunk written twice
    manifest = json.loads((Path(again.sources[0].snapshot) / "manifest.json").read_text())
    assert manifest["wrote"] == [] and {c: c.stat().st_ino for c in chunk_files(Path(again.sources[0].snapshot))} == first
    store = chunks[0].parents[1]
    assert sum(1 for _ in store.glob("*/*")) == len(set(chunks))   # the older dump went, its chunks stayed shared


def test_a_parent_that_rebinds_builtins_is_dumped_all_the_same(jupyter, monkeypatch):
    """Issue 10, item 11: the dump request called ``__import__`` and ``globals`` from the user's namespace."""
    odd = jupyter.open("odd.ipynb", "y = 7\nglobals = {'g': 1}\n__import__ = None\nprint = len\nopen = None")
    monkeypatch.chdir(jupyter.root)
    into: dict = {}
    inherit_from("odd.ipynb", into=into)
    assert into["y"] == 7 and into["globals"] == {"g": 1} and into["print"] is len
    left = odd.run("import sys\nsys.stdout.write(repr(sorted(n for n in get_ipython().user_ns if 'nbgraph' in n)));")
    assert left == "[]"  # the request left no name behind


def test_an_error_of_inherit_from_is_one_line_in_the_notebook_unless_asked(jupyter, base):
    child = jupyter.open("one_line.ipynb")
    try:
        cell = "from nbgraph import inherit_from\ninherit_from('nowhere.ipynb')"
        shown = child.traceback(cell)
        assert len(shown) == 1, shown
        assert "NotOpen" in shown[0] and "nowhere.ipynb is not open" in shown[0], shown
        child.run("%xmode Verbose")  # the switch for the whole traceback
        full = child.traceback(cell)
        assert len(full) > 3 and any("inherit.py" in line for line in full), full
    finally:
        child.close()
