"""Ask a live kernel to dump its state, through jupyter_client and its connection file.

The request calls :mod:`nbgraph.notebook.live_dump` (in the parent kernel) with literal arguments only (built by
``kernelcode.call``), sent with ``silent=True, store_history=False, stop_on_error=False``:
it leaves no name behind and looks up none of the user's, leaves ``In``/``Out``/``_`` and
the execution count alone, shows nothing in the user's notebook, and if it fails it does
not abort cells the user has queued.  The reply is
matched by message id.  A busy kernel is waited for (never interrupted) up to the
timeout; a kernel that dies meanwhile is reported, never restarted.
"""

from __future__ import annotations

import platform
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import KernelBusy, KernelDied, LiveError, ParentRaised
from ..kernelcode import call
from .servers import DEAD_STATES, Session, connection_file, kernel_state

#: the module the request calls inside the parent kernel
DUMP_MODULE = "nbgraph.notebook.live_dump"
_POLL = 0.25
#: an idle kernel answers kernel_info on its control channel in milliseconds
_IDENTITY_TIMEOUT = 5.0


@dataclass(frozen=True)
class DumpReply:
    """What the parent said: its execution count when dumped, and how long it took."""

    execution_count: int | None
    seconds: float


def dump_code(dest: Path, exclude: Sequence[str], key_file: str | None, strict: bool = False,
              objects: Path | None = None) -> str:
    """The code run in the parent: every argument a literal, so a path or a name cannot run as code."""
    return call(DUMP_MODULE, "dump", dest=str(dest), exclude=[str(x) for x in exclude],
                key_file=None if key_file is None else str(key_file), strict=bool(strict), seal=False,
                objects=None if objects is None else str(objects))


def dump_live(session: Session, dest: Path, *, exclude: Sequence[str] = (), key_file: str | None = None,
              strict: bool = False, timeout: float = 120.0, objects: Path | None = None) -> DumpReply:
    """Have the kernel of ``session`` write its snapshot to ``dest``; raise a ``LiveError`` if it cannot.

    ``objects``: the chunk store to write its buffers into (a chunk already there is not
    written again, so dumping an unchanged parent twice stores its arrays once).  The
    caller seals the snapshot (``snapshot.format.seal_snapshot``) before loading.
    """
    started = time.monotonic()
    deadline = started + timeout
    _wait_until_idle(session, deadline, timeout)
    from jupyter_client import BlockingKernelClient

    client = BlockingKernelClient(connection_file=str(connection_file(session)))
    try:
        client.load_connection_file()
    except (OSError, ValueError) as e:
        raise KernelDied(f"cannot read the connection file of {session.describe()}: {e}") from None
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=True)
    try:
        identity = _identity(client, session, min(_IDENTITY_TIMEOUT, max(deadline - time.monotonic(), 0.5)))
        msg_id = client.execute(dump_code(dest, exclude, key_file, strict, objects), silent=True, store_history=False,
                                allow_stdin=False, stop_on_error=False)
        reply = _await_reply(client, session, msg_id, identity, deadline, timeout)
    finally:
        client.stop_channels()
    content = reply.get("content", {})
    status = content.get("status")
    if status == "error":
        raise _parent_error(session, content.get("ename", "Error"), content.get("evalue", ""))
    if status != "ok":
        raise ParentRaised(f"the kernel of {session.describe()} did not run the dump (status {status!r}); try again",
                           notebook=session.path, ename=str(status), evalue="")
    count = content.get("execution_count")
    if count == 0:
        raise KernelDied(f"the kernel of {session.describe()} has run no cell since it started (was it restarted?); "
                         "run the notebook's cells, then retry", notebook=session.path, state="fresh")
    return DumpReply(execution_count=count if isinstance(count, int) else None, seconds=time.monotonic() - started)


def refused_dump(error: Exception, where: str) -> LiveError:
    """A live kernel's dump that this process refuses to load, with a remedy that fits it.

    No notebook run produced it, so the snapshot's usual remedy (re-run with --force) would
    mislead; the likely cause is two kernels with different nbgraph/cloudpickle versions.
    """
    problem = getattr(error, "problem", None) or str(error)
    if getattr(error, "versions", False):
        remedy = ("install the same nbgraph and cloudpickle versions in that kernel's environment as in this one "
                  "(or use the same environment's kernel for both notebooks)")
    else:
        remedy = "dump it again (retry); nothing was loaded"
    return LiveError(f"the state dumped by the kernel of {where} cannot be loaded here: {problem}; {remedy}",
                     notebook=where, problem=problem)


def _wait_until_idle(session: Session, deadline: float, timeout: float) -> None:
    """Busy kernels are waited for through the server's view of them; dead ones reported."""
    while True:
        state = kernel_state(session)
        if state in DEAD_STATES:
            raise KernelDied(f"the kernel of {session.describe()} is {state}; restart it, run the notebook's "
                             "cells again, then retry", notebook=session.path, state=state)
        if state != "busy":
            return
        if time.monotonic() >= deadline:
            raise KernelBusy(f"the kernel of {session.describe()} has been busy for more than {timeout:g} s "
                             "(a cell is running); wait for it to finish, or pass a larger timeout=",
                             notebook=session.path, timeout=timeout)
        time.sleep(_POLL)


def _ask_identity(client) -> str:
    msg = client.session.msg("kernel_info_request")
    client.control_channel.send(msg)
    return msg["header"]["msg_id"]


def _identity(client, session: Session, timeout: float) -> str:
    """The kernel process's session id (a restarted kernel has a new one), via the control channel,
    which an idle kernel answers at once; no answer means the process is gone."""
    msg_id = _ask_identity(client)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            msg = client.get_control_msg(timeout=max(end - time.monotonic(), 0.01))
        except queue.Empty:
            break
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            _check_language(session, msg.get("content", {}).get("language_info") or {})
            return str(msg["header"].get("session", ""))
    raise KernelDied(f"the kernel of {session.describe()} does not answer (its process is gone?); "
                     "restart it, run the notebook's cells again, then retry", notebook=session.path, state="silent")


def _check_language(session: Session, info: dict) -> None:
    """Snapshots are Python pickles for the same Python minor version: say so before dumping."""
    name, version = str(info.get("name", "")), str(info.get("version", ""))
    if name and name != "python":
        raise LiveError(f"{session.describe()} runs a {name} kernel; nbgraph copies the state of Python kernels only",
                        notebook=session.path)
    here = ".".join(platform.python_version().split(".")[:2])
    if version and ".".join(version.split(".")[:2]) != here:
        raise LiveError(f"{session.describe()} runs Python {version} and this is Python {platform.python_version()}; "
                        "a snapshot can only be loaded by the same Python version: switch this notebook's kernel",
                        notebook=session.path)


def _await_reply(client, session: Session, msg_id: str, identity: str, deadline: float, timeout: float) -> dict:
    """The reply to ``msg_id``; meanwhile, a dead or restarted kernel stops the wait.

    A kernel busy in C code (pickling a large state) may answer nothing for a while, so
    silence alone is not death: the server seeing it dead, or an answer from a process
    with another identity (restarted), is.
    """
    next_check = time.monotonic() + 1.0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise KernelBusy(f"the kernel of {session.describe()} did not finish dumping its state within {timeout:g} s "
                             "(a large state, or a cell started meanwhile); pass a larger timeout=",
                             notebook=session.path, timeout=timeout)
        try:
            msg = client.get_shell_msg(timeout=min(_POLL, remaining))
        except queue.Empty:
            if time.monotonic() >= next_check:
                _check_alive(client, session, identity)
                next_check = time.monotonic() + 1.0
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            if msg.get("header", {}).get("session", identity) != identity:
                raise _restarted(session)
            return msg


def _check_alive(client, session: Session, identity: str) -> None:
    while True:
        try:
            msg = client.get_control_msg(timeout=0)
        except queue.Empty:
            break
        if msg.get("header", {}).get("session", identity) != identity:
            raise _restarted(session)
    state = kernel_state(session, timeout=2.0)
    if state in DEAD_STATES:
        raise KernelDied(f"the kernel of {session.describe()} died while dumping its state ({state}); "
                         "restart it and run its cells again", notebook=session.path, state=state)
    _ask_identity(client)


def _restarted(session: Session) -> KernelDied:
    return KernelDied(f"the kernel of {session.describe()} died and was restarted while dumping its state "
                      "(out of memory?); its state is gone: run its cells again, then retry",
                      notebook=session.path, state="restarted")


def _parent_error(session: Session, ename: str, evalue: str) -> ParentRaised:
    first = (evalue or "").strip().splitlines()[0] if evalue and evalue.strip() else ""
    if ename in ("ModuleNotFoundError", "ImportError") and "nbgraph" in first:
        return ParentRaised(f"nbgraph is not importable in the kernel of {session.describe()} ({ename}: {first}); "
                            "install nbgraph in that kernel's environment", notebook=session.path, ename=ename,
                            evalue=first)
    if ename == "TypeError" and first.startswith(("dump() got an unexpected keyword argument", "dump() missing")):
        return ParentRaised(f"the kernel of {session.describe()} runs another nbgraph version ({ename}: {first}); "
                            "install the same nbgraph version in that kernel's environment as in this one",
                            notebook=session.path, ename=ename, evalue=first)
    return ParentRaised(f"dumping the state of {session.path} failed inside its kernel: {ename}: {first}",
                        notebook=session.path, ename=ename, evalue=first)
