"""Zygotes seen from nbgraph: one per group of children sharing parents, folder and kernel,
and one per kernel for the notebooks without parents (it loads nothing: their kernels are
ready in a tenth of the time a fresh one takes).

Lifetime of a zygote: a *spare* is started early (it pays the imports while the parents
run, see :mod:`.spares`) and becomes the run's *mother*, which loads nothing; the first job of
a group to reach a worker has the mother fork the group's zygote (in milliseconds: the imports
are done), makes it load the parents' snapshots, and from then on every job of the group forks
its kernel from it (the next one's ahead of time, see :mod:`.warm`); when the group's last
expected job has finished, the zygote is drained (it exits with its last kernel).  Closing
the manager, or nbgraph dying, closes the control channels, and zygotes kill their kernels.

Every failure here degrades to a fresh kernel for the affected children, said once.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Mapping

from ..run import Job, Outcome
from . import spares
from .handle import LOAD_TIMEOUT, ZYGOTE_MAIN, Zygote, ZygoteError  # noqa: F401  (the handle, as before)
from .support import kernel_info, kernel_name, platform_blocker
from .warm import WarmKernels


def group_key(parents: Iterable[str], cwd: str, notebook: str, kernel: str | None) -> Hashable:
    """Jobs with equal keys can fork from one zygote (without parents, the folder does not matter:
    a forked kernel starts in its own, and nothing is loaded from it)."""
    parents = tuple(parents)
    return (parents, str(cwd) if parents else "", kernel_name(notebook, kernel))


def job_group(job: Job) -> Hashable:
    return group_key([name for name, _ in job.inherit], job.cwd, job.notebook, job.kernel)


@dataclass
class _Group:
    expected: int
    assigned: int = 0
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
    ``imports_ahead``: modules the groups' loads will import (``RunInfo.imports_ahead``), which
    each mother imports as soon as it has forked its first zygote, while the parents run.
    """

    def __init__(self, expected: dict[Hashable, int], *, spare: bool = True,
                 say: Callable[[str], None] = _say, env: Mapping[str, str] | None = None,
                 imports_ahead: Iterable[str] = ()) -> None:
        self._lock = threading.RLock()
        self._env = dict(env or {})
        self._said: set[str] = set()
        self._say = say
        self._spare = spare
        self._started: list[Zygote] = []
        #: (python, env) -> the zygote that loads nothing and forks the groups' zygotes
        self._mothers: dict[tuple, Zygote] = {}
        self._warm = WarmKernels()
        self._ahead = list(imports_ahead)
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
        if first is not None and first.python:
            self._spawn_spare(first.python, first.env)

    @property
    def forking(self) -> bool:
        """Whether any child of this run may fork."""
        return any(g.fallback is None for g in self._groups.values())

    # -- used by the executor ------------------------------------------------------------
    def run(self, job: Job, run: Callable[[Job], Outcome]) -> Outcome:
        """Run ``job`` (with ``run``, e.g. ``run_job``) forked if possible, fresh otherwise; while
        it runs, the next job of its group gets its kernel forked ahead (see :mod:`.warm`)."""
        waited = time.monotonic()
        forked = self.assign(job)
        waited = time.monotonic() - waited
        if forked.fork_from:
            self._warm.ahead(forked, self._left(job))
        outcome = None
        try:
            outcome = run(forked)
            if forked.fork_from and not outcome.ok and (outcome.error or "").startswith("ForkError"):
                self.note(f"{job.variant}: {outcome.error}; running it in a fresh kernel")
                outcome = run(job)
            outcome.timings["zygote"] = waited  # a group's first job waits while its zygote loads
            return outcome
        finally:
            # a failed attempt that the scheduler retries is not the child's last: the zygote
            # must stay up for it (and for the siblings still waiting), or they all run fresh
            if outcome is None or outcome.ok or job.attempt > job.retries:
                self.finished(job)

    def assign(self, job: Job) -> Job:
        key = job_group(job)
        with self._lock:
            group = self._groups.get(key)
            if group is None:  # not announced by the caller: fork nothing unexpected
                return job
            if job.attempt == 1:
                group.assigned += 1
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

    def _left(self, job: Job) -> int:
        """How many jobs of ``job``'s group have not been assigned yet."""
        with self._lock:
            group = self._groups.get(job_group(job))
            return 0 if group is None else max(0, group.expected - group.assigned)

    def finished(self, job: Job) -> None:
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
        self._warm.close()
        for zygote in [*zygotes, *self._mothers.values()]:  # a mother last: it reaps the others
            zygote.close()
        for zygote in self._started:
            spares.withdraw(zygote)

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
        if self._spare and not self._closed and (python, env) not in self._mothers:
            zygote = spares.start(python, env, self._env)
            if zygote is not None:  # it dies with this (job) thread: closed with the manager if not taken
                self._started.append(zygote)

    def _take_zygote(self, python: str, env: tuple[tuple[str, str], ...] = ()) -> Zygote:
        """A zygote for a group: forked from this run's *mother* for this interpreter and environment
        (the first spare, which loads nothing), else the spare, else a new one."""
        mother = self._mothers.get((python, env))
        new = mother is None and self._spare
        if new:
            mother = self._mothers[(python, env)] = spares.take(python, env, self._env)
        if mother is not None and mother.alive():
            try:
                zygote = mother.spawn()
                self.zygotes.append(zygote)
                if new:  # the first group (the roots, as a rule) is on its way: now the parents' imports
                    self._teach(mother, self._ahead)
                return zygote
            except ZygoteError:
                pass
        zygote = spares.take(python, env, self._env)
        self.zygotes.append(zygote)
        return zygote

    @staticmethod
    def _teach(mother: Zygote | None, modules: list[str]) -> None:
        """``mother`` imports ``modules`` in the background (it spawns nothing meanwhile): the zygotes
        it spawns next have them from the start (the study's sklearn: 1-3 s a group otherwise),
        and no job waits for the import."""
        if modules and mother is not None and mother.alive():
            threading.Thread(target=mother.learn, args=(list(modules),), name="nbgraph-mother-imports",
                             daemon=True).start()

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
                mother = self._mothers.get((group.python or sys.executable, group.env))
                self._teach(mother, reply.get("imported") or [])
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
    """Count jobs per group from (parents, cwd, notebook, kernel) of every variant to run."""
    counts: dict[Hashable, int] = {}
    for parents, cwd, notebook, kernel in items:
        key = group_key(parents, cwd, notebook, kernel)
        counts[key] = counts.get(key, 0) + 1
    return counts


def fork_manager(children: Iterable[tuple[Iterable[str], str, str, str | None]], *,
                 say: Callable[[str], None] = _say, env: Mapping[str, str] | None = None,
                 imports_ahead: Iterable[str] = ()) -> ForkManager | None:
    """A manager for these children, or None (saying why once) where this platform cannot fork."""
    expected = expected_children(children)
    if not expected:
        return None
    reason = platform_blocker()
    if reason:
        say(f"not forking kernels: {reason}; children start fresh kernels")
        return None
    manager = ForkManager(expected, say=say, env=env, imports_ahead=imports_ahead)
    return manager if manager.forking else None
