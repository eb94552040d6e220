"""What a process forked from a zygote does to become a kernel that looks freshly started.

A forked process inherits everything of the zygote, including what a fresh kernel would
not have: its signal handlers, its random generators' state, its descriptors, its
environment and its parent.  Each step below undoes one of those; the comments name the
symptom seen without it.  Nothing here returns to the zygote's loop: the process always
ends in ``os._exit``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback
from typing import Any, Callable, MutableMapping

from ...procs import die_with, exit_now

def become_kernel(request: dict[str, Any], fds: list[int], conn: socket.socket, zygote_pid: int,
                  ns: MutableMapping[str, Any], close_zygote: Callable[[], None]) -> None:
    """Run an IPython kernel in this freshly forked process, then exit; never returns.

    ``fds`` are the descriptors the provisioner sent for the kernel's stdout/stderr
    (``request["stdio"]`` says which), as ``Popen(stdout=..., stderr=...)`` would set them."""
    code = 1
    try:
        os.setsid()  # interrupt and kill (sent to the process group) reach only this kernel
        die_with(zygote_pid)  # no orphan kernel keeps running on its own
        _reset_signals()  # an inherited SIGCHLD disposition makes subprocess return codes read 0
        # The zygote's listening socket, control channel and other kernels' sockets.  Descriptors
        # opened while loading the state stay: objects of the state own them (an np.memmap's
        # file), as in a fresh kernel; strays inherited by the zygote were closed at its start.
        close_zygote()
        _stdio(request.get("stdio", {}), fds)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _reseed()  # otherwise every child draws the same "random" numbers
        argv = kernel_arguments(request["argv"])
        code = _run_ipykernel(argv, ns, zygote_pid, conn)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # report to the provisioner, which is waiting for "bound"
        traceback.print_exc()
        try:
            conn.send(json.dumps({"error": f"{type(e).__name__}: {e}"}).encode())
        except OSError:
            pass
    finally:
        # like an interpreter, without tearing down the heap (a write to every page shared with the zygote)
        exit_now(code, join_threads=False)


def kernel_arguments(cmd: list[str]) -> list[str]:
    """The ipykernel arguments of a kernel command line (what follows ``-m ipykernel_launcher``)."""
    for i, arg in enumerate(cmd[:-1]):
        if arg == "-m" and cmd[i + 1] in ("ipykernel_launcher", "ipykernel", "ipykernel.kernelapp"):
            return list(cmd[i + 2:])
    raise ValueError(f"not an ipykernel command line: {cmd!r}")


def _reset_signals() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # what the interpreter sets at start-up


def _stdio(spec: dict[str, str], fds: list[int]) -> None:
    """stdin from /dev/null (jupyter_client closes a fresh kernel's); stdout/stderr as asked:
    ``fd`` (the next descriptor received), ``devnull``, ``stdout`` (stderr only), else inherited."""
    null = os.open(os.devnull, os.O_RDWR)
    received = iter(fds)
    os.dup2(null, 0)
    for target, name in ((1, "stdout"), (2, "stderr")):
        how = spec.get(name, "inherit")
        if how == "fd":
            os.dup2(next(received), target)
        elif how == "devnull":
            os.dup2(null, target)
        elif how == "stdout":
            os.dup2(1, target)
    os.close(null)
    for fd in fds:
        os.close(fd)


def _reseed() -> None:
    """Reseed the global generators from OS entropy, as importing them in a fresh kernel does."""
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _run_ipykernel(argv: list[str], ns: MutableMapping[str, Any], zygote_pid: int, conn: socket.socket) -> int:
    import ipykernel_launcher
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = [ipykernel_launcher.__file__, *argv]
    if sys.path and sys.path[0] == "":
        del sys.path[0]  # as ipykernel_launcher does; IPKernelApp.init_path puts it back first
    # The shell (and its history thread) is created here, after the fork.  The parent-death
    # handle is given explicitly: ipykernel read JPY_PARENT_PID when the zygote imported it.
    app = IPKernelApp.instance(user_ns=ns, parent_handle=zygote_pid)
    inherited = {k: v for k, v in ns.items() if not k.startswith("__")}
    app.initialize(argv)
    # initialize() ran the user's IPython startup files and exec_lines; a fresh kernel runs them
    # before the injected cell loads the state, so inherited values must win here too
    for name, value in inherited.items():
        if ns.get(name) is not value:
            ns[name] = value
    _attach_inline_backend()
    conn.send(json.dumps({"bound": True, "pid": os.getpid()}).encode())  # sockets are bound: connect now
    conn.close()
    app.start()
    _stop_channel_threads(app)
    return 0


def _stop_channel_threads(app: Any) -> None:
    """Let the control and shell-channel threads finish what they are doing (e.g. flushing the
    shutdown reply) while IOPub still runs: ``IPKernelApp.close``, at exit, stops IOPub first
    and then joins them, which can hang them until jupyter_client's SIGTERM 2.5 s later.
    A fresh kernel's slower interpreter teardown mostly hides this race."""
    for name in ("control_thread", "shell_channel_thread"):
        thread = getattr(app, name, None)
        if thread is not None and thread.is_alive():
            thread.stop()
            thread.join(timeout=5)


def _attach_inline_backend() -> None:
    """If loading the state already imported matplotlib's inline backend, hook it to this shell."""
    inline = sys.modules.get("matplotlib_inline.backend_inline")
    if inline is not None:
        inline._enable_matplotlib_integration()
