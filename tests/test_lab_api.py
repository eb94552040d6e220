"""The REST routes of nbgraph's jupyter_server extension, against a real ``jupyter server``.

What they return is compared with what the CLI prints for the same spec; runs are real
(kernels, lock, records), started and stopped over HTTP as the Lab panel does.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import PID_CELL, alive, run_cli, write_notebook, write_spec
from jupyter_live import JupyterServer

pytestmark = pytest.mark.slow  # a real server and real kernels

EXTENSION = "--ServerApp.jpserver_extensions=nbgraph.lab=True"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = JupyterServer(tmp_path_factory.mktemp("lab-api"), EXTENSION)
    yield srv
    srv.stop()


def call(server: JupyterServer, method: str, path: str, body: dict | None = None, *, token: bool = True):
    """(HTTP status, parsed JSON body) of one request to the server."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"token {server.token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def study(server: JupyterServer, name: str, *, leaf: str = "import nbgraph\nnbgraph.record('score', x / 4)") -> Path:
    folder = server.root / name
    write_notebook(folder / "base.ipynb", "offset = 10", PID_CELL)
    write_notebook(folder / "leaf.ipynb", leaf, parameters="x = 0")
    write_spec(folder, "# a comment the panel must keep\nnotebooks:\n  base: {path: base.ipynb}\n"
                       "  leaf: {path: leaf.ipynb, parent: base, grid: {x: [1, 2]}}\n")
    return folder


def wait_run(server: JupyterServer, run_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code, run = call(server, "GET", f"nbgraph/api/runs/{run_id}")
        assert code == 200, run
        if run["state"] != "running":
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.2)


def cli_json(folder: Path, *args: str):
    done = run_cli(*args, cwd=folder)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_status_and_results_are_the_cli_rows_before_and_after_a_run(server):
    folder = study(server, "same")
    code, rows = call(server, "GET", "nbgraph/api/status?spec=same/inheritance.yaml")
    assert code == 200 and rows == cli_json(folder, "status", "--json")
    assert {r["status"] for r in rows} == {"pending"}
    code, run = call(server, "POST", "nbgraph/api/run", {"spec": "same/inheritance.yaml", "only": [], "force": False})
    assert code == 202 and run["state"] == "running" and run["total"] == 3
    done = wait_run(server, run["id"])
    assert done["state"] == "succeeded" and done["counts"]["succeeded"] == 3 and done["failures"] == []
    assert {v["name"]: v["state"] for v in done["variants"]} == {
        "base": "succeeded", "leaf[x=1]": "succeeded", "leaf[x=2]": "succeeded"}
    code, rows = call(server, "GET", "nbgraph/api/status?spec=same")  # a folder means its inheritance.yaml
    assert code == 200 and rows == cli_json(folder, "status", "--json")
    assert {r["status"] for r in rows} == {"succeeded"}
    code, results = call(server, "GET", "nbgraph/api/results?spec=same/inheritance.yaml")
    assert code == 200 and results == cli_json(folder, "results", "--format", "json")
    assert [r["results"]["score"] for r in results] == [0.25, 0.5]


def test_a_second_run_is_refused_with_the_cli_message_and_stop_interrupts_like_ctrl_c(server):
    folder = study(server, "stop", leaf=f"{PID_CELL}\nimport time\ntime.sleep(120)")
    code, run = call(server, "POST", "nbgraph/api/run", {"spec": "stop/inheritance.yaml"})
    assert code == 202, run
    code, busy = call(server, "POST", "nbgraph/api/run", {"spec": "stop/inheritance.yaml", "force": True})
    assert code == 409 and busy["error"] == "BuildBusy", busy
    terminal = run_cli("run", cwd=folder)
    assert terminal.returncode == 2
    cli_line = terminal.stderr.strip().removeprefix("nbgraph: error: ")
    assert busy["message"].split(" (pid")[0] == cli_line.split(" (pid")[0]
    assert busy["message"].endswith("wait for it to finish or stop it, then run again") and cli_line.endswith(busy["message"][-50:])
    deadline = time.monotonic() + 120
    while len(pids_in(folder)) < 3:  # base, then both leaves are inside their sleep
        assert time.monotonic() < deadline, call(server, "GET", f"nbgraph/api/runs/{run['id']}")
        time.sleep(0.2)
    code, state = call(server, "GET", f"nbgraph/api/runs/{run['id']}")
    assert state["counts"]["running"] == 2 and state["counts"]["succeeded"] == 1
    code, graph = call(server, "GET", "nbgraph/api/graph?spec=stop")
    assert graph["busy"].startswith("pid ") and graph["layers"] == [["base"], ["leaf"]]
    code, stopping = call(server, "POST", f"nbgraph/api/runs/{run['id']}/stop")
    assert code == 200 and stopping["stopping"] is True
    done = wait_run(server, run["id"], timeout=60)
    assert done["state"] == "interrupted" and done["exit_code"] == 130
    assert {v["name"]: v["state"] for v in done["variants"]}["leaf[x=1]"] == "interrupted"
    time.sleep(0.5)
    assert not [p for p in pids_in(folder)[1:] if alive(p)], "a kernel of the stopped run is still alive"
    rows = {r["name"]: r for r in cli_json(folder, "status", "--json")}
    assert rows["base"]["status"] == "succeeded" and rows["leaf[x=1]"]["status"] == "pending"  # nothing half-written
    assert not list(folder.glob("build/leaf/*/leaf.ipynb"))
    assert run_cli("run", "--dry-run", cwd=folder).returncode == 0  # the lock is free again
    assert call(server, "GET", "nbgraph/api/graph?spec=stop")[1]["busy"] is None


def pids_in(folder: Path) -> list[int]:
    path = folder / "pids.txt"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def test_a_failed_variant_gives_the_failure_lines_of_the_cli_summary(server):
    folder = study(server, "fails", leaf="raise ValueError('broken on purpose')")
    code, run = call(server, "POST", "nbgraph/api/run", {"spec": "fails/inheritance.yaml", "only": ["base", "leaf"]})
    assert code == 202
    done = wait_run(server, run["id"])
    assert done["state"] == "failed" and done["counts"]["failed"] == 2
    first = [line for line in done["failures"] if line.startswith("failed: leaf[x=1]")]
    assert first and "ValueError: broken on purpose" in first[0]
    assert any(line.startswith("notebook: ") and line.endswith("leaf.ipynb") for line in done["failures"])
    code, rows = call(server, "GET", "nbgraph/api/status?spec=fails/inheritance.yaml")
    assert rows == cli_json(folder, "status", "--json")


def test_refusals_are_one_line_with_their_status(server):
    study(server, "bad")
    (server.root / "bad" / "broken.yaml").write_text("notebooks:\n  a: {path: a.ipynb, parent: nowhere}\n")
    outside = server.root.parent / "outside.yaml"
    outside.write_text("notebooks: {}\n")
    (server.root / "bad" / "link.yaml").symlink_to(outside)
    cases = [
        ("GET", "nbgraph/api/status?spec=bad/inheritance.yaml", None, False, 403),
        ("POST", "nbgraph/api/run", {"spec": "bad/inheritance.yaml"}, False, 403),
        ("POST", "nbgraph/api/runs/0123abcd/stop", None, False, 403),
        ("GET", "nbgraph/api/status?spec=../outside.yaml", None, True, 403),
        ("GET", "nbgraph/api/results?spec=bad/link.yaml", None, True, 403),
        ("POST", "nbgraph/api/run", {"spec": "../outside.yaml"}, True, 403),
        ("GET", "nbgraph/api/status?spec=bad/missing.yaml", None, True, 404),
        ("GET", "nbgraph/api/runs/0123abcd", None, True, 404),
        ("GET", "nbgraph/api/status", None, True, 400),
        ("POST", "nbgraph/api/run", {"spec": "bad/inheritance.yaml", "only": "leaf"}, True, 400),
        ("POST", "nbgraph/api/run", {"spec": "bad/inheritance.yaml", "only": ["nope"]}, True, 400),
        ("POST", "nbgraph/api/open", {"spec": "bad/inheritance.yaml", "variant": "leaf[x=1]"}, True, 400),
        ("POST", "nbgraph/api/run", {"spec": 5}, True, 400),
        ("POST", "nbgraph/api/open", {"spec": ["bad/inheritance.yaml"], "variant": "leaf[x=1]"}, True, 400),
    ]
    for method, path, body, token, expected in cases:
        code, answer = call(server, method, path, body, token=token)
        assert code == expected, (method, path, code, answer)
        if token:
            assert isinstance(answer, dict) and "\n" not in answer["message"] and "Traceback" not in answer["message"]
    code, answer = call(server, "GET", "nbgraph/api/status?spec=bad/broken.yaml")
    cli = run_cli("validate", "broken.yaml", cwd=server.root / "bad")
    assert code == 400 and answer["error"] == "SpecError"
    assert cli.stderr.strip() == f"nbgraph: error: {answer['message']}"
    assert not (server.root / "bad" / "build").exists()  # a refused run made nothing


def test_posts_from_a_browser_session_need_the_xsrf_token(server):
    """Token in the URL once, then the cookie (as in a browser): a POST without the XSRF header is refused."""
    import http.cookiejar

    study(server, "xsrf")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{server.url}login?token={server.token}", timeout=30).read()  # sets the login and _xsrf cookies
    specs = opener.open(f"{server.url}nbgraph/api/specs?folder=xsrf", timeout=30).read()  # a read needs no XSRF
    assert json.loads(specs) == {"specs": ["xsrf/inheritance.yaml"]}
    body = json.dumps({"spec": "xsrf", "only": ["base"]}).encode()
    bare = urllib.request.Request(f"{server.url}nbgraph/api/run", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(bare, timeout=30)
    assert refused.value.code == 403
    assert not (server.root / "xsrf" / "build").exists()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    signed = urllib.request.Request(f"{server.url}nbgraph/api/run", data=body, method="POST",
                                    headers={"X-XSRFToken": xsrf})
    with opener.open(signed, timeout=30) as response:
        assert response.status == 202
        run = json.loads(response.read())
    assert wait_run(server, run["id"])["state"] == "succeeded"


def test_stopping_the_server_interrupts_its_runs(tmp_path):
    """A run belongs to the server that started it: its shutdown stops it as Ctrl-C would."""
    import signal

    from nbgraph.build.lock import held_by

    own = JupyterServer(tmp_path, EXTENSION)
    try:
        folder = study(own, "s", leaf=f"{PID_CELL}\nimport time\ntime.sleep(120)")
        code, run = call(own, "POST", "nbgraph/api/run", {"spec": "s"})
        assert code == 202
        deadline = time.monotonic() + 120
        while len(pids_in(folder)) < 3:
            assert time.monotonic() < deadline, call(own, "GET", f"nbgraph/api/runs/{run['id']}")
            time.sleep(0.2)
        own.proc.send_signal(signal.SIGTERM)
        own.proc.wait(timeout=60)
    finally:
        own.stop()
    assert held_by(folder / "build") is None
    time.sleep(0.5)
    assert not [p for p in pids_in(folder) if alive(p)]
    rows = {r["name"]: r["status"] for r in cli_json(folder, "status", "--json")}
    assert rows == {"base": "succeeded", "leaf[x=1]": "pending", "leaf[x=2]": "pending"}


def test_nothing_is_written_outside_the_root_before_the_refusal(server):
    """A node whose notebook lies outside the server's root: "new notebook from this variant" is refused
    (403) before a file is created beside it."""
    outside = server.root.parent / "elsewhere"
    write_notebook(outside / "child.ipynb", "y = 1")
    write_notebook(server.root / "far" / "base.ipynb", "x = 1")
    write_spec(server.root / "far", f"""
        notebooks:
          base: {{path: base.ipynb}}
          child: {{path: {outside / 'child.ipynb'}, parent: base}}
    """)
    code, answer = call(server, "POST", "nbgraph/api/from-variant", {"spec": "far/inheritance.yaml", "variant": "child"})
    assert code == 403 and "outside the server's root" in answer["message"], (code, answer)
    assert sorted(p.name for p in outside.iterdir()) == ["child.ipynb"]
