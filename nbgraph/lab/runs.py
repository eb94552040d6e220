"""Runs started from the Lab panel: each a :mod:`nbgraph.lab.worker` process, followed by its events.

A run's state is ``running`` until its worker ends, then ``succeeded``, ``failed`` or
``interrupted`` (a run that could not start is ``failed`` with the one-line error).
Starting is refused, with the CLI's own :class:`~nbgraph.errors.BuildBusy` message, while
any run (this server's, or a terminal's) holds the build folder's lock; starts are
serialised and each waits until its worker holds the lock, so two quick clicks cannot
both get through.  Stopping sends SIGINT, as Ctrl-C in a terminal does.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BuildBusy, SelectionError

RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"
#: a worker that has neither taken the lock nor failed by then is reported as started anyway
START_WAIT = 60.0
STDERR_LINES = 200
#: ended runs a server keeps for ``GET nbgraph/api/runs/ID`` (the oldest go first; running ones stay)
KEEP_ENDED = 50


@dataclass
class Run:
    """What the panel polls: ``GET nbgraph/api/runs/ID`` returns :meth:`to_json`."""

    id: str
    spec: Path
    only: list[str]
    force: bool
    state: str = RUNNING
    started: float = field(default_factory=time.time)
    ended: float | None = None
    total: int | None = None
    #: variant -> running | succeeded | failed | skipped (as its record says), in the order they started
    variants: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    message: str | None = None
    kind: str | None = None  #: the error class of a run that could not start
    #: the state the worker's last event announced; ``state`` takes it once the worker has exited
    ending: str | None = None
    stderr: list[str] = field(default_factory=list)
    exit_code: int | None = None
    process: Any = None
    follow: Any = None  #: the task reading the worker's events
    locked: asyncio.Event = field(default_factory=asyncio.Event)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one worker event into the run's state."""
        kind = event.get("event")
        if kind == "planned":
            self.total = event["total"]
            self.locked.set()
        elif kind == "started":
            self.variants[event["variant"]] = RUNNING
        elif kind == "finished":
            name = event["variant"]
            self.variants[name] = event["status"]
            if event.get("error"):
                self.errors[name] = event["error"]
            if event.get("duration") is not None:
                self.durations[name] = event["duration"]
        elif kind == "done":
            self.summary = list(event.get("summary") or [])
            self.ending = SUCCEEDED if event.get("ok") else FAILED
        elif kind == "interrupted":
            self.ending = INTERRUPTED
            self.variants.update({n: INTERRUPTED for n, s in self.variants.items() if s == RUNNING})
        elif kind == "error":
            self.ending, self.message = FAILED, event.get("message")
            self.kind = event.get("kind")
            self.locked.set()

    def failure_lines(self) -> list[str]:
        """The run summary's ``failed:`` lines (and where to look), else each failed variant's error."""
        if self.summary:
            lines, keep = [], False
            for line in self.summary:
                keep = line.startswith("failed:") or (keep and line.startswith(" "))
                if keep:
                    lines.append(line.strip() if not line.startswith("failed:") else line)
            return lines
        lines = [f"failed: {name}: {self.errors.get(name, '')}" for name, s in self.variants.items() if s == FAILED]
        return lines + ([self.message] if self.message else [])

    def to_json(self) -> dict[str, Any]:
        counts = Counter(self.variants.values())
        return {"id": self.id, "spec": str(self.spec), "only": self.only, "force": self.force, "state": self.state,
                "started": self.started, "ended": self.ended, "total": self.total,
                "counts": {k: counts.get(k, 0) for k in (RUNNING, SUCCEEDED, FAILED, "skipped")},
                "variants": [{"name": n, "state": s, "error": self.errors.get(n), "duration": self.durations.get(n)}
                             for n, s in self.variants.items()],
                "failures": self.failure_lines(), "summary": self.summary, "message": self.message,
                "exit_code": self.exit_code}


class Runs:
    """Every run this server started, by id."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self._starting = asyncio.Lock()

    def get(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    async def start(self, spec: Path, only: list[str], force: bool, cwd: Path) -> Run:
        """Start a worker on ``spec``; BuildBusy (the CLI's message) while another run holds its build."""
        from ..spec import load_spec

        async with self._starting:
            loaded = load_spec(spec)  # bad input is refused here, as one line, before anything starts
            for name in only:
                if name not in loaded.nodes:
                    raise SelectionError(loaded.no_such_node(name, "only"), node=name)
            _probe_lock(loaded)
            run = Run(id=uuid.uuid4().hex[:12], spec=spec, only=list(only), force=bool(force))
            args = [sys.executable, "-m", "nbgraph.lab.worker", str(spec), *(f"--only={n}" for n in only)]
            run.process = await asyncio.create_subprocess_exec(
                *args, *(["--force"] if force else []), cwd=str(cwd), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
            self.runs[run.id] = run
            self._forget_old()
            follow = asyncio.ensure_future(_follow(run))
            run.follow = follow
            waiter = asyncio.ensure_future(run.locked.wait())
            await asyncio.wait({waiter, follow}, timeout=START_WAIT, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        if run.kind == "BuildBusy":
            del self.runs[run.id]
            raise BuildBusy(run.message or "the build folder is in use by another nbgraph run")
        return run

    def _forget_old(self) -> None:
        """A long-lived server keeps the last :data:`KEEP_ENDED` ended runs, not every run it saw."""
        ended = sorted((r for r in self.runs.values() if r.state != RUNNING), key=lambda r: r.ended or r.started)
        for run in ended[:max(0, len(ended) - KEEP_ENDED)]:
            del self.runs[run.id]

    def stop(self, run: Run) -> bool:
        """Interrupt the run as Ctrl-C does; False if it had already ended."""
        if run.state != RUNNING or run.process is None or run.process.returncode is not None:
            return False
        run.process.send_signal(signal.SIGINT)
        return True

    async def stop_all(self, timeout: float = 30.0) -> None:
        """On server shutdown: interrupt every run and wait for its worker to clean up."""
        live = [r for r in self.runs.values() if self.stop(r)]
        for run in live:
            try:
                await asyncio.wait_for(run.process.wait(), timeout)
            except asyncio.TimeoutError:
                run.process.kill()


def _probe_lock(spec) -> None:
    """Raise the CLI's BuildBusy if a run holds the build folder now (taken and released at once)."""
    from ..build.lock import BuildLock
    from ..runner import make_build_dir

    make_build_dir(spec)
    with BuildLock(spec.build_dir, spec.build_location):
        pass


async def _follow(run: Run) -> None:
    """Read the worker's events until it exits, then settle the run's final state."""
    proc = run.process
    err = asyncio.ensure_future(_tail(run, proc.stderr))
    while line := await proc.stdout.readline():
        try:
            run.apply(json.loads(line))
        except (ValueError, KeyError, TypeError):
            run.stderr.append(line.decode(errors="replace").rstrip())
    run.exit_code = await proc.wait()
    await err
    run.ended = time.time()
    run.state = run.ending or (INTERRUPTED if run.exit_code in (-signal.SIGINT, -signal.SIGKILL, 130) else FAILED)
    if run.ending is None:  # the worker died without a last word (killed, crashed)
        run.message = run.message or f"the run's process ended with code {run.exit_code}: " + (
            run.stderr[-1] if run.stderr else "no output")
    run.locked.set()


async def _tail(run: Run, stream) -> None:
    while line := await stream.readline():
        run.stderr.append(line.decode(errors="replace").rstrip())
        del run.stderr[:-STDERR_LINES]

