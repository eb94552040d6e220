"""The zygote process: holds a parent's state and forks one kernel per request.

Started by :class:`~nbgraph.kernels.fork.manager.Zygote` as
``python -c "from nbgraph.kernels.fork.zygote import main; main()" CONTROL_FD DIR``.
It must stay single-threaded and free of ZeroMQ contexts, or its children inherit locks
held by threads that do not exist in them (OpenBLAS's pool is the one exception allowed: it
stops its threads around ``fork()``).  Its sockets live in a private (0700) temporary folder,
so only this user can ask it for a kernel.  It talks over two kinds of sockets, both
``AF_UNIX``/``SOCK_SEQPACKET`` (one JSON message per packet):

* the *control* channel, inherited from nbgraph: ``{"op": "load", "parents": [[name, path]...],
  "cwd": ..., "verified": ...}`` -> ``{"ok": true, "address": ..., "report": ..., "hazards": [...]}``;
  ``{"op": "spawn", "folder": ...}`` with the control socket of a new zygote attached (a zygote that
  has loaded nothing: a *mother*) -> ``{"pid": ...}``: a forked copy of this zygote, with its imports
  done and its own control channel and folder, that any group can load its state into (it starts
  in milliseconds where a new process spends a second importing; the mother reaps it);
  ``{"op": "import", "modules": [...]}`` -> ``{"ok": ..., "hazards": [...]}``: a mother imports the
  installed packages a group's load imported, so that the zygotes it spawns next have them too;
  ``{"op": "drain"}`` stops accepting forks (the zygote exits when its last kernel has);
  end of file (nbgraph exited or was killed) kills every kernel and exits.
* ``DIR/fork.sock``, listened on once the state is loaded: a provisioner sends
  ``{"argv", "env", "cwd", "stdio"}`` (with the kernel's stdout/stderr descriptors attached
  as ``SCM_RIGHTS``, where ``stdio`` says ``"fd"``); the zygote answers ``{"pid"}``, the kernel itself
  ``{"bound"}`` once its sockets are bound, and the zygote ``{"exit": code}`` after
  reaping it.  If the provisioner hangs up first, its kernel is killed.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import shutil
import signal
import socket
import sys
import time
from typing import Any

from ...procs import die_with
from .hazards import UNSAFE_MODULES, fork_hazards
from ...notebook.uses import installed_modules
from .imports import importable, prepare_main, preimport

def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # Die with nbgraph even while busy loading (the control channel's end of file is only
    # seen between requests).  The spawning thread lives until nbgraph is done with us.
    signal.signal(signal.SIGTERM, _terminate)  # so that it still kills its kernels and cleans up
    die_with(os.getppid(), signal.SIGTERM)
    close_stray_fds(keep={0, 1, 2, int(argv[0])})  # before anything could own one
    control = socket.socket(fileno=int(argv[0]))
    folder = argv[1]
    try:
        ns = prepare_main()
        preimport()
        Zygote(control, folder, ns).serve()
    finally:  # e.g. nbgraph died while this was still importing
        shutil.rmtree(folder, ignore_errors=True)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def close_stray_fds(keep: set[int]) -> None:
    """Close descriptors this process inherited by accident; its kernels would inherit them too."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:  # the directory's own descriptor, already closed
                pass


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        pass


class Zygote:
    """The zygote's event loop: one thread, one selector, no timers."""

    def __init__(self, control: socket.socket, folder: str, ns: dict[str, Any]) -> None:
        self.control = control
        self.folder = folder
        self.ns = ns
        self.pid = os.getpid()
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.kernels: dict[int, tuple[socket.socket, int]] = {}  # pid -> (conn, pidfd)
        self.offspring: dict[int, int] = {}  # pid -> pidfd of the zygotes spawned from this one
        self.no_spawn: str | None = None  # why this zygote may not spawn others (None: it is a mother)
        self.draining = False

    def serve(self) -> None:
        self.selector.register(self.control, selectors.EVENT_READ, self._on_control)
        try:
            while not (self.draining and not self.kernels):
                for key, _ in self.selector.select():
                    key.data(key.fileobj)
        finally:
            self._kill_all()
            shutil.rmtree(self.folder, ignore_errors=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)  # the state is the parent's: no need to free it page by page

    # -- control channel (nbgraph) -------------------------------------------------------
    def _on_control(self, sock: socket.socket) -> None:
        fds: list[int] = []
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 1)
        except OSError:
            data = b""
        if not data:  # nbgraph is gone: so are its kernels
            self.draining = True
            self._kill_all()
            return
        message = json.loads(data)
        if message["op"] == "spawn" and fds:
            _send(sock, self._spawn(fds[0], message["folder"]))
        elif message["op"] == "load":
            _send(sock, self._load(message))
        elif message["op"] == "import":
            _send(sock, self._import(message["modules"]))
        elif message["op"] == "drain":
            self._stop_listening()
            self.draining = True

    def _spawn(self, fd: int, folder: str) -> dict[str, Any]:
        """Fork a new zygote (see the module docstring); only a zygote that loaded nothing can."""
        if self.no_spawn or self.listener is not None:
            os.close(fd)
            return {"error": self.no_spawn or "this zygote holds a state: it cannot spawn zygotes"}
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self._close_in_child()
                die_with(self.pid, signal.SIGTERM)
                Zygote(socket.socket(fileno=fd), folder, self.ns).serve()  # ends in os._exit
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.offspring[pid] = pidfd
        self.selector.register(pidfd, selectors.EVENT_READ, lambda _fd, pid=pid: self._reap_offspring(pid))
        return {"pid": pid}

    def _reap_offspring(self, pid: int) -> None:
        pidfd = self.offspring.pop(pid)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        os.waitpid(pid, 0)

    def _import(self, modules: list[str]) -> dict[str, Any]:
        """A mother takes on the imports of its offspring's loads, or those the parents' previous
        snapshots name (installed packages only, never one known not to survive ``fork()``); one
        that then cannot fork safely spawns no more."""
        import importlib

        if self.no_spawn:
            return {"ok": False, "error": self.no_spawn}
        for name in modules:
            if name not in sys.modules and name.split(".")[0] not in UNSAFE_MODULES and importable(name):
                try:
                    importlib.import_module(name)
                except Exception:  # it fails in the kernel too, where it is the notebook's to report
                    pass
        hazards = fork_hazards()
        if hazards:  # its offspring would inherit them
            self.no_spawn = f"this zygote cannot spawn zygotes: {'; '.join(hazards)}"
        return {"ok": not hazards, "hazards": hazards}

    def _load(self, message: dict[str, Any]) -> dict[str, Any]:
        from ...notebook.inject import preload

        self.no_spawn = "this zygote holds a state: it cannot spawn zygotes"
        started = time.monotonic()
        before = set(sys.modules)
        try:
            os.chdir(message["cwd"])
            report = preload([tuple(p) for p in message["parents"]], self.ns, verified=message.get("verified", False))
        except Exception as e:  # the children then run fresh and show the same error themselves
            return {"ok": False, "error": f"{type(e).__name__}: {e}".splitlines()[0]}
        imported = installed_modules([name for name in sys.modules if name not in before])
        hazards = fork_hazards()
        if hazards:
            return {"ok": False, "hazards": hazards}
        gc.collect()
        gc.freeze()  # the collector would otherwise write to every inherited object's page
        address = os.path.join(self.folder, "fork.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(address)
        self.listener.listen(64)
        self.selector.register(self.listener, selectors.EVENT_READ, self._on_request)
        return {"ok": True, "address": address, "report": report, "seconds": time.monotonic() - started,
                "imported": imported}

    def _stop_listening(self) -> None:
        if self.listener is not None:
            self.selector.unregister(self.listener)
            self.listener.close()
            self.listener = None

    # -- fork requests (provisioners) ----------------------------------------------------
    def _on_request(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        fds: list[int] = []
        try:
            data, fds, _, _ = socket.recv_fds(conn, 1 << 22, 2)  # the kernel's stdout/stderr, if given
            request = json.loads(data)
        except (OSError, ValueError) as e:
            _send(conn, {"error": f"bad fork request: {e}"})
            conn.close()
            for fd in fds:
                os.close(fd)
            return
        pid = os.fork()
        if pid == 0:
            from .child import become_kernel

            become_kernel(request, fds, conn, self.pid, self.ns, self._close_in_child)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.kernels[pid] = (conn, pidfd)
        _send(conn, {"pid": pid})
        conn.setblocking(False)
        self.selector.register(pidfd, selectors.EVENT_READ, lambda _fd, pid=pid: self._reap(pid))
        self.selector.register(conn, selectors.EVENT_READ, lambda _c, pid=pid: self._on_hangup(pid))

    def _close_in_child(self) -> None:
        self.selector.close()
        self.control.close()
        if self.listener is not None:
            self.listener.close()
        for conn, pidfd in self.kernels.values():
            conn.close()
            os.close(pidfd)
        for pidfd in self.offspring.values():
            os.close(pidfd)

    def _on_hangup(self, pid: int) -> None:
        conn, _ = self.kernels[pid]
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the provisioner is gone: nobody will ever shut this kernel down
            self.selector.unregister(conn)
            _kill_group(pid)

    def _reap(self, pid: int) -> None:
        conn, pidfd = self.kernels.pop(pid)
        _, status = os.waitpid(pid, 0)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        try:
            self.selector.unregister(conn)
        except KeyError:  # already unregistered when the provisioner hung up
            pass
        _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
        conn.close()

    def _kill_all(self) -> None:
        self._stop_listening()
        for pid in list(self.kernels):
            _kill_group(pid)
        for pid in list(self.kernels):
            conn, pidfd = self.kernels.pop(pid)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            conn.close()
            os.close(pidfd)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
