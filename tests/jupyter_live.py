"""A real ``jupyter server`` on 127.0.0.1 for the live-kernel tests, and helpers to drive it.

Each server gets a free port, a random token (passed as ``--IdentityProvider.token``,
never printed), and private runtime/data/config/IPython folders, so it can neither see
nor be seen by any other Jupyter on the machine.  Notebooks are opened as sessions
through the REST API; their kernels are driven with jupyter_client, as a user would
drive them from JupyterLab.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import nbformat
from jupyter_client import BlockingKernelClient

from nbgraph.live.servers import Server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveKernel:
    """A notebook open in the server, with a client on its kernel."""

    def __init__(self, server: "JupyterServer", path: str, session: dict) -> None:
        self.server = server
        self.path = path
        self.session_id = session["id"]
        self.kernel_id = session["kernel"]["id"]
        cf = server.runtime / f"kernel-{self.kernel_id}.json"
        deadline = time.monotonic() + 60
        while not cf.exists():
            assert time.monotonic() < deadline, f"kernel of {path} never wrote its connection file"
            time.sleep(0.05)
        self.client = BlockingKernelClient(connection_file=str(cf))
        self.client.load_connection_file()
        self.client.start_channels(hb=False)  # a missed heartbeat under load is not death
        self._wait_ready(deadline)

    def _wait_ready(self, deadline: float) -> None:
        """kernel_info until it answers (jupyter_client's wait_for_ready trusts heartbeats too much)."""
        while True:
            msg_id = self.client.kernel_info()
            try:
                while True:
                    reply = self.client.get_shell_msg(timeout=1)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                break
            except queue.Empty:
                assert time.monotonic() < deadline, f"kernel of {self.path} never answered"
        while True:  # drop the startup chatter
            try:
                self.client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                return

    def run(self, code: str, timeout: float = 60) -> str:
        """Execute like a notebook cell (history, outputs); returns stdout, raises on error."""
        out: list[str] = []
        errors: list[str] = []

        def hook(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                errors.append(f"{content['ename']}: {content['evalue']}")

        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        if reply["content"]["status"] != "ok" or errors:
            raise KernelCellError(errors[0] if errors else str(reply["content"]))
        return "".join(out)

    def traceback(self, code: str, timeout: float = 60) -> list[str]:
        """Execute a cell that must fail; the traceback lines the notebook would show."""
        shown: list[list[str]] = []

        def hook(msg):
            if msg["msg_type"] == "error":
                shown.append(msg["content"]["traceback"])

        self.client.execute_interactive(code, timeout=timeout, output_hook=hook)
        assert shown, f"the cell did not fail: {code}"
        return shown[0]

    def start(self, code: str) -> str:
        """Send a cell without waiting for it (to keep the kernel busy)."""
        return self.client.execute(code)

    def namespace(self) -> dict[str, str]:
        """name -> repr of every entry of the user namespace, read without changing it."""
        msg_id = self.client.execute("", silent=True, store_history=False, user_expressions={
            "ns": "{k: repr(v)[:200] for k, v in globals().items() if k not in ('_', '__', '___', 'Out', '_oh')}"})
        while True:
            reply = self.client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        import ast

        data = reply["content"]["user_expressions"]["ns"]
        assert data["status"] == "ok", data
        return ast.literal_eval(data["data"]["text/plain"])

    def interrupt(self) -> None:
        self.server.api("POST", f"api/kernels/{self.kernel_id}/interrupt")

    def close(self) -> None:
        self.client.stop_channels()
        try:
            self.server.api("DELETE", f"api/sessions/{self.session_id}")
        except Exception:
            pass


class KernelCellError(AssertionError):
    pass


class JupyterServer:
    def __init__(self, base: Path, *extra_args: str, root: Path | None = None, runtime: Path | None = None,
                 app: str = "jupyter_server", installed_config: bool = False) -> None:
        """``app`` is the module run (``jupyterlab`` for Lab); ``installed_config`` reads the
        environment's ``etc/jupyter`` (what ``pip install`` put there) instead of no config at all."""
        self.base = base
        self.root = root or base / "root"
        self.runtime = runtime or base / "runtime"
        for folder in (self.root, self.runtime, base / "data", base / "config", base / "ipython"):
            folder.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._token = secrets.token_hex(24)
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.runtime), JUPYTER_DATA_DIR=str(base / "data"),
                   JUPYTER_CONFIG_DIR=str(base / "config"), IPYTHONDIR=str(base / "ipython"),
                   JUPYTER_PLATFORM_DIRS="0", **({} if installed_config else {"JUPYTER_NO_CONFIG": "1"}))
        self.log = open(base / "server.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", app, "--ip=127.0.0.1", f"--port={self.port}",
             "--ServerApp.port_retries=0", "--allow-root", "--no-browser", f"--IdentityProvider.token={self._token}",
             f"--ServerApp.root_dir={self.root}", *extra_args],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"jupyter server exited; see {base / 'server.log'}"
            try:
                self.api("GET", "api/status")
                break
            except OSError:
                assert time.monotonic() < deadline, "jupyter server did not start within 60 s"
                time.sleep(0.1)
        self.kernels: list[LiveKernel] = []

    @property
    def server(self) -> Server:
        """This server as nbgraph sees it (for passing ``server=``/``token=`` explicitly)."""
        return Server(url=self.url, token=self._token, root_dir=str(self.root), runtime_dir=str(self.runtime))

    @property
    def token(self) -> str:
        return self._token

    def api(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"token {self._token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def open(self, rel: str, *cells: str) -> LiveKernel:
        """Create the notebook under the root (if needed), open it, run ``cells`` in its kernel."""
        path = self.root / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            nb = nbformat.v4.new_notebook()
            nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
            nbformat.write(nb, path)
        session = self.api("POST", "api/sessions", {"path": rel, "name": path.name, "type": "notebook",
                                                    "kernel": {"name": "python3"}})
        kernel = LiveKernel(self, rel, session)
        self.kernels.append(kernel)
        for cell in cells:
            kernel.run(cell)
        return kernel

    def stop(self) -> None:
        for kernel in self.kernels:
            kernel.client.stop_channels()
        try:
            for session in self.api("GET", "api/sessions"):
                self.api("DELETE", f"api/sessions/{session['id']}")
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@contextlib.contextmanager
def live_server(base: Path, *extra_args: str) -> Iterator[JupyterServer]:
    """A server for a test module; this process finds it (and only it) through the runtime folder,
    and live parents' snapshots land in a private folder of the test."""
    server = JupyterServer(base, *extra_args)
    saved = {k: os.environ.get(k) for k in ("JUPYTER_RUNTIME_DIR", "NBGRAPH_LIVE_DIR")}
    os.environ["JUPYTER_RUNTIME_DIR"] = str(server.runtime)
    os.environ["NBGRAPH_LIVE_DIR"] = str(base / "live")
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
