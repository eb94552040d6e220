"""Zygotes seen from nbgraph: one per group of children sharing parents, folder and kernel.

Lifetime of a zygote: a *spare* is started early (it pays the imports while the parents
run); the first child of a group to reach a worker takes it, makes it load the parents'
snapshots and from then on every child of the group forks from it; when the group's last
expected child has finished, the zygote is drained (it exits with its last kernel).  Closing
the manager, or nbgraph dying, closes the control channels, and zygotes kill their kernels.

Every failure here degrades to a fresh kernel for the affected children, said once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Mapping

from ..run import Job, Outcome
from .support import kernel_info, kernel_name, platform_blocker

ZYGOTE_MAIN = "from nbgraph.kernels.fork.zygote import main; main()"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
LOAD_TIMEOUT = 600.0


def group_key(parents: Iterable[str], cwd: str, notebook: str, kernel: str | None) -> Hashable:
    """Children with equal keys can fork from one zygote."""
    return (tuple(parents), str(cwd), kernel_name(notebook, kernel))


def job_group(job: Job) -> Hashable:
    return group_key([name for name, _ in job.inherit], job.cwd, job.notebook, job.kernel)


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


@dataclass
class _Group:
    expected: int
    python: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    done: int = 0
    zygote: Zygote | None = None
    address: str | None = None
    fallback: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)


def _say(message: str) -> None:
    print(f"nbgraph: {message}", file=sys.stderr, flush=True)


class ForkManager:
    """Assigns each child job a zygote to fork from (``Job.fork_from``), or leaves it fresh.

    ``expected`` counts the children of each group (:func:`group_key`) that this run will
    execute; a group's zygote is drained once that many have finished.  ``env``: the run's
    environment for its kernels (``Job.env``), which the zygotes load the parents' state with.
    """

    def __init__(self, expected: dict[Hashable, int], *, spare: bool = True,
                 say: Callable[[str], None] = _say, env: Mapping[str, str] | None = None) -> None:
        self._lock = threading.RLock()
        self._env = dict(env or {})
        self._said: set[str] = set()
        self._say = say
        self._spares: dict[Hashable, Zygote] = {}
        self._closed = False
        self.zygotes: list[Zygote] = []
        self.notes: list[str] = []
        self._groups: dict[Hashable, _Group] = {}
        kernels: dict[str, Any] = {}
        for key, n in expected.items():
            name = key[2]
            info = kernels.get(name) or kernels.setdefault(name, kernel_info(name))
            group = _Group(expected=n, python=info.python, env=info.env, fallback=info.blocker)
            if info.blocker:
                group.ready.set()
                self.note(f"not forking kernels: {info.blocker}; children start fresh kernels")
            self._groups[key] = group
        first = next((g for g in self._groups.values() if g.fallback is None), None)
        if spare and first is not None and first.python:
            self._spawn_spare(first.python, first.env)

    @property
    def forking(self) -> bool:
        """Whether any child of this run may fork."""
        return any(g.fallback is None for g in self._groups.values())

    # -- used by the executor ------------------------------------------------------------
    def run(self, job: Job, run: Callable[[Job], Outcome]) -> Outcome:
        """Run ``job`` (with ``run``, e.g. ``run_job``) forked if possible, fresh otherwise."""
        forked = self.assign(job)
        outcome = None
        try:
            outcome = run(forked)
            if forked.fork_from and not outcome.ok and (outcome.error or "").startswith("ForkError"):
                self.note(f"{job.variant}: {outcome.error}; running it in a fresh kernel")
                outcome = run(job)
            return outcome
        finally:
            # a failed attempt that the scheduler retries is not the child's last: the zygote
            # must stay up for it (and for the siblings still waiting), or they all run fresh
            if outcome is None or outcome.ok or job.attempt > job.retries:
                self.finished(job)

    def assign(self, job: Job) -> Job:
        if not job.inherit:
            return job
        key = job_group(job)
        with self._lock:
            group = self._groups.get(key)
            if group is None:  # not announced by the caller: fork nothing unexpected
                return job
            loader = group.zygote is None and group.fallback is None
            if loader:
                try:
                    group.zygote = self._take_zygote(group.python or sys.executable, group.env)
                except OSError as e:
                    group.fallback = f"cannot start a zygote with {group.python} ({e})"
                    self.note(f"not forking kernels: {group.fallback}; children start fresh kernels")
                    group.ready.set()
                    return job
                following = next((g for g in self._groups.values() if g.zygote is None and g.fallback is None), None)
                if following is not None:  # for the next group
                    self._spawn_spare(following.python or sys.executable, following.env)
        if loader:
            self._load(group, job)
        group.ready.wait()
        if group.address and group.zygote is not None and group.zygote.alive():
            return dataclasses.replace(job, fork_from=group.address)
        return job

    def finished(self, job: Job) -> None:
        if not job.inherit:
            return
        with self._lock:
            group = self._groups.get(job_group(job))
            if group is None:
                return
            group.done += 1
            if group.done >= group.expected and group.zygote is not None:
                group.zygote.drain()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            zygotes = list(self.zygotes)
        for zygote in zygotes:
            zygote.close()

    def note(self, message: str) -> None:
        """Say ``message`` once per run."""
        with self._lock:
            if message in self._said:
                return
            self._said.add(message)
            self.notes.append(message)
        self._say(message)

    # -- internals -----------------------------------------------------------------------
    def _spawn_spare(self, python: str, env: tuple[tuple[str, str], ...] = ()) -> None:
        if self._closed or (python, env) in self._spares:
            return
        try:
            zygote = Zygote(python, env, self._env)
        except OSError:  # said when a group needs it and it cannot start either
            return
        self.zygotes.append(zygote)
        self._spares[(python, env)] = zygote

    def _take_zygote(self, python: str, env: tuple[tuple[str, str], ...] = ()) -> Zygote:
        """The spare zygote (already importing) for this interpreter and environment, else a new one."""
        zygote = self._spares.pop((python, env), None)
        if zygote is None or not zygote.alive():
            zygote = Zygote(python, env, self._env)
            self.zygotes.append(zygote)
        return zygote

    def _load(self, group: _Group, job: Job) -> None:
        assert group.zygote is not None
        parents = ", ".join(name for name, _ in job.inherit)
        try:
            try:
                reply = group.zygote.load(job.parents_to_load(), job.cwd, job.verified)
            except Exception as e:  # whatever went wrong, the children still run (fresh)
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            if reply.get("ok"):
                group.address = reply["address"]
                return
            if reply.get("hazards"):
                why = f"the state of {parents} cannot live in a forked process: {'; '.join(reply['hazards'])}"
            else:
                why = f"the zygote could not load the state of {parents}: {reply.get('error')}"
            group.fallback = why
            if not self._closed:  # a load cut short by our own shutdown (Ctrl-C) is no news
                self.note(f"not forking kernels: {why}; its children start fresh kernels")
            group.zygote.close()
        finally:
            group.ready.set()


def expected_children(items: Iterable[tuple[Iterable[str], str, str, str | None]]) -> dict[Hashable, int]:
    """Count children per group from (parents, cwd, notebook, kernel) of every child to run."""
    counts: dict[Hashable, int] = {}
    for parents, cwd, notebook, kernel in items:
        parents = tuple(parents)
        if parents:
            key = group_key(parents, cwd, notebook, kernel)
            counts[key] = counts.get(key, 0) + 1
    return counts


def fork_manager(children: Iterable[tuple[Iterable[str], str, str, str | None]], *,
                 say: Callable[[str], None] = _say, env: Mapping[str, str] | None = None) -> ForkManager | None:
    """A manager for these children, or None (saying why once) where this platform cannot fork."""
    expected = expected_children(children)
    if not expected:
        return None
    reason = platform_blocker()
    if reason:
        say(f"not forking kernels: {reason}; children start fresh kernels")
        return None
    manager = ForkManager(expected, say=say, env=env)
    return manager if manager.forking else None
