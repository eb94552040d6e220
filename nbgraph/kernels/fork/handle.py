"""nbgraph's handle on one zygote process: start it (or have a mother fork it), load, drain, end.

A zygote started here is nbgraph's child (``subprocess.Popen``); one forked by a *mother*
zygote is the mother's (:class:`Offspring`: seen through a pidfd, reaped by the mother).
Either way nbgraph talks to it over its control channel (see ``zygote``'s docstring).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
from typing import Any, Iterable, Mapping

ZYGOTE_MAIN = "from nbgraph.kernels.fork.zygote import main; main()"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
LOAD_TIMEOUT = 600.0


class ZygoteError(RuntimeError):
    pass


class Zygote:
    """One zygote process: started at once, importing; ``load`` then makes it fork-ready."""

    def __init__(self, python: str = sys.executable, env: tuple[tuple[str, str], ...] = (),
                 run_env: Mapping[str, str] | None = None) -> None:
        self.python = python
        self.folder = tempfile.mkdtemp(prefix="nbgraph-fork-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # the run's env (its key file, see Job.env) and the kernel spec's, as a fresh kernel gets
        # them (thread counts...): ${VAR} expanded as jupyter_client does
        base = {**os.environ, **(run_env or {})}
        env = {**base, **{k: string.Template(v).safe_substitute(base) for k, v in env}}
        env.setdefault("MPLBACKEND", INLINE_BACKEND)  # before any matplotlib import, as ipykernel does
        try:
            self.process = subprocess.Popen(
                [python, "-c", ZYGOTE_MAIN, str(theirs.fileno()), self.folder],
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), start_new_session=True, env=env)
        except BaseException:
            ours.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.control = ours
        self.address: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def _of(cls, python: str, process: Any, control: socket.socket, folder: str) -> "Zygote":
        zygote = cls.__new__(cls)
        zygote.python, zygote.process, zygote.control, zygote.folder = python, process, control, folder
        zygote.address = None
        zygote._lock = threading.Lock()
        return zygote

    def spawn(self, timeout: float = LOAD_TIMEOUT) -> "Zygote":
        """A new zygote forked from this one (which must have loaded nothing): its imports are done,
        so it is ready as soon as this one is, instead of a second later (see ``zygote``'s docstring)."""
        folder = tempfile.mkdtemp(prefix="nbgraph-fork-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                try:
                    socket.send_fds(self.control, [json.dumps({"op": "spawn", "folder": folder}).encode()],
                                    [theirs.fileno()])
                    self.control.settimeout(timeout)
                    reply = json.loads(self.control.recv(1 << 20) or b"{}")
                except (OSError, ValueError) as e:
                    raise ZygoteError(f"the zygote process stopped answering ({e})") from e
            if "pid" not in reply:
                raise ZygoteError(reply.get("error") or "the zygote process exited before spawning")
            return Zygote._of(self.python, Offspring(int(reply["pid"])), ours, folder)
        except BaseException:
            ours.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            theirs.close()

    def learn(self, modules: list[str], timeout: float = LOAD_TIMEOUT) -> None:
        """Have a mother import ``modules`` (what a group's load imported), so that the zygotes it
        spawns next start with them; never raises (a mother that cannot spawns no more)."""
        with self._lock:
            try:
                self.control.send(json.dumps({"op": "import", "modules": list(modules)}).encode())
                self.control.settimeout(timeout)
                self.control.recv(1 << 20)
            except OSError:
                pass

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def load(self, parents: Iterable[Iterable[Any]], cwd: str, verified: bool = False,
             timeout: float = LOAD_TIMEOUT) -> dict[str, Any]:
        """Load the parents' snapshots as the injected cell would (``parents``, ``verified``: see
        ``notebook.inject.inherit``); the reply says ``ok`` (and ``address``) or why not."""
        with self._lock:
            try:
                message = {"op": "load", "parents": [list(p) for p in parents], "cwd": cwd, "verified": verified}
                self.control.send(json.dumps(message).encode())
                self.control.settimeout(timeout)
                data = self.control.recv(1 << 20)
            except OSError as e:
                raise ZygoteError(f"the zygote process stopped answering ({e})") from e
            if not data:
                code = self.process.wait(timeout=5)
                raise ZygoteError(f"the zygote process exited with code {code} before loading the snapshot")
            reply = json.loads(data)
            self.address = reply.get("address")
            return reply

    def drain(self) -> None:
        """Fork no more; the zygote exits as soon as its last kernel has (and is reaped then)."""
        with self._lock:
            try:
                self.control.send(json.dumps({"op": "drain"}).encode())
            except OSError:
                return
        threading.Thread(target=self.process.wait, name="nbgraph-zygote-reaper", daemon=True).start()

    def kill(self) -> None:
        """End a zygote that holds no kernel (a spare nobody took) at once, even mid-import."""
        self.control.close()
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def close(self, timeout: float = 10.0) -> None:
        """Kill the zygote's kernels, end it, and remove its socket folder."""
        try:
            self.control.close()  # end of file: the zygote kills its kernels and exits
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class Offspring:
    """What the zygote handle needs of ``Popen`` for a zygote another one forked (and reaps):
    its exit is seen through a pidfd, and its exit code is not known here."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._pidfd = os.pidfd_open(pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"zygote {self.pid}", timeout or 0)
            self._exited()
        return self.returncode

    def _exited(self) -> None:
        self.returncode = -1

    def kill(self) -> None:
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except OSError:
                pass

    def __del__(self) -> None:  # not on exit: a reaper thread and close() may both be waiting on it
        os.close(self._pidfd)
