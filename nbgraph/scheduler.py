"""Walk the plan: hand ready variants to an executor, record every outcome.

A variant is ready when each parent is available: it succeeded in this run, or it is
not part of this run and has a snapshot from an earlier one.  A failure marks only that
variant's descendants as skipped; siblings and other branches go on.  A failed variant
of a node with ``retries: N`` is submitted again, up to N more times.

A record is written only when a variant ends, so an interrupted or killed run leaves no
record for what was in flight, and the next run executes it again.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol

import networkx as nx

from .cache import with_parent_results
from .executors.base import Executor
from .kernels.job import Job, Outcome
from .nbfile import kernel_for
from .plan import Plan, Planned
from .records import FAILED, SKIPPED, SUCCEEDED, Record
from .store import LocalStore, Store

UP_TO_DATE = "up to date"


class Events(Protocol):
    """What the scheduler tells its caller (progress display, logs)."""

    def planned(self, total: int) -> None: ...
    def started(self, item: Planned) -> None: ...
    def finished(self, item: Planned, record: Record) -> None: ...


class _NoEvents:
    def planned(self, total: int) -> None:
        pass

    def started(self, item: Planned) -> None:
        pass

    def finished(self, item: Planned, record: Record) -> None:
        pass


@dataclass
class RunResult:
    """Every variant's record after the run, and what this run did to it."""

    plan: Plan
    records: dict[str, Record] = field(default_factory=dict)
    #: variant name -> "succeeded" | "failed" | "skipped" | "up to date" | "not selected" | "attached"
    outcome: dict[str, str] = field(default_factory=dict)
    wall_time: float = 0.0
    #: attach: true nodes snapshotted from their live kernels before this run (live.attach.Attached)
    attached: list = field(default_factory=list)

    def names(self, outcome: str) -> list[str]:
        return [n for n, o in self.outcome.items() if o == outcome]

    @property
    def ok(self) -> bool:
        return not self.names(FAILED)


def build_job(plan: Plan, item: Planned, parent_snapshots: list[tuple[str, str]], strict: bool = False,
              *, store: Store | None = None, run_id: str = "local", verified: bool = False,
              parent_records: list[Record] | None = None, env: Mapping[str, str] | None = None) -> Job:
    """The job of one variant; with a remote ``store`` its paths are the location's URLs.

    ``verified``: the scheduler read every byte of the parents' snapshots in this run.
    ``parent_records``: the parents' records, whose bindings the child's load checks and
    which complete the variant's key (signed into its own snapshot's binding).
    ``env``: what the run adds to its kernels' environment (``kernels.job.run_env``).
    """
    variant, node, spec = item.variant, item.node, plan.spec
    store = store or LocalStore(plan.layout.root)
    snapshot = None
    if node.snapshot:
        snapshot = store.ref(plan.layout.snapshot_dir(variant, item.decision.key))
    key = item.decision.key
    expect: tuple = ()
    if parent_records is not None:
        key = with_parent_results(item.decision.parts, parent_records)[0]
        expect = tuple(r.binding for r in parent_records)
    return Job(
        variant=variant.name,
        node=variant.node,
        notebook=str(node.path),
        output=store.ref(plan.layout.output_path(variant, node.path)),
        cwd=str(node.path.parent),
        params=dict(variant.own_params),
        kernel=kernel_for(node.path, spec.node_kernel(node)),
        timeout=spec.node_timeout(node),
        inherit=tuple((name, store.ref(path)) for name, path in parent_snapshots),
        expect=expect,
        snapshot=snapshot,
        key=key,
        exclude=tuple(node.exclude),
        strict=node.strict or strict,
        verified=verified,
        retries=node.retries,
        run_id=run_id,
        store=store.location if store.remote else None,
        storage_options=dict(getattr(store, "storage_options", {}) or {}),
        env=dict(env or {}),
        root=str(spec.root),
        inputs=spec.node_inputs(node),
    )


class Scheduler:
    def __init__(self, plan: Plan, executor: Executor, events: Events | None = None, *, strict: bool = False,
                 store: Store | None = None, run_id: str = "local", env: Mapping[str, str] | None = None) -> None:
        self.plan = plan
        self.executor = executor
        self.events = events or _NoEvents()
        self.strict = strict
        self.store = store or LocalStore(plan.layout.root)
        self.run_id = run_id
        self.env = dict(env or {})
        self.result = RunResult(plan)
        self._snapshots: dict[str, str] = {}
        self._attempts: dict[str, int] = {}
        self._verified: dict[str, str | None] = {}  # snapshot path -> None if sound, else why not

    def run(self) -> RunResult:
        started = time.monotonic()
        plan = self.plan
        pending: dict[str, Planned] = {}
        for item in plan.items:
            name = item.variant.name
            if item.will_run:
                pending[name] = item
                continue
            self.result.outcome[name] = UP_TO_DATE if item.selected else "not selected"
            if item.record is not None:
                self.result.records[name] = item.record
                if item.record.status == SUCCEEDED and item.record.snapshot:
                    self._snapshots[name] = item.record.snapshot
        running: dict[Future, Planned] = {}
        self.events.planned(len(pending))
        try:
            while pending or running:
                for item in self._ready(pending, running):
                    del pending[item.variant.name]
                    self._submit(item, running, pending)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    item = running.pop(future)
                    outcome = future.result()
                    if not outcome.ok and self._attempts[item.variant.name] <= item.node.retries:
                        self._submit(item, running, pending)
                        continue
                    self._finish(item, outcome, pending)
        finally:
            self.result.wall_time = time.monotonic() - started
        for name, item in list(pending.items()):  # unreachable: parents never became available
            self._skip(item, "a parent has no snapshot", pending)
        return self.result

    def _submit(self, item: Planned, running: dict[Future, Planned], pending: dict[str, Planned]) -> None:
        name = item.variant.name
        self._attempts[name] = self._attempts.get(name, 0) + 1
        inputs = [(p, self._snapshots[p]) for p in item.variant.parents]
        parents = [self.result.records[p] for p in item.variant.parents]
        verified = not self.store.remote  # a remote worker checks what it downloads itself
        if verified:
            problem = self._verify(inputs, parents)
            if problem is not None:
                self.events.started(item)
                self._finish(item, Outcome(variant=name, ok=False, output=None, error=problem), pending)
                return
        job = build_job(self.plan, item, inputs, self.strict, store=self.store, run_id=self.run_id,
                        verified=verified, parent_records=parents, env=self.env)
        if self._attempts[name] > 1:
            job = dataclasses.replace(job, attempt=self._attempts[name])
        self.events.started(item)
        running[self.executor.submit(job)] = item

    def _verify(self, inputs: list[tuple[str, str]], parents: list[Record]) -> str | None:
        """Read every byte of each snapshot once per run: why one cannot be used, or None.

        A snapshot written in this run was sealed by its job (its large buffers hashed and
        signed in once the kernel was done, with its binding); one from an earlier run is
        verified here, its binding against its record's (a snapshot copied over from a
        sibling is refused).  Either way before any child starts, so children check only
        the signature, the binding, the pickle stream and the sizes, and none re-reads a
        buffer it may never touch.
        """
        from .errors import SnapshotError
        from .snapshot.format import seal_snapshot

        for (parent, path), record in zip(inputs, parents):
            if path not in self._verified:
                try:
                    seal_snapshot(Path(path), expect=record.binding)
                    self._verified[path] = None
                except SnapshotError as e:
                    self._verified[path] = self._unusable(parent, e)
            if self._verified[path] is not None:
                return self._verified[path]
        return None

    def _unusable(self, parent: str, error: Exception) -> str:
        """Why a parent's snapshot from an earlier run cannot be used, and the command that remakes it.

        Its record still says succeeded (``status`` checks no bytes), so a plain ``nbgraph
        run`` would fail the same way: name the parent to force.
        """
        problem = getattr(error, "problem", None)
        record = self.result.records.get(parent)
        if not problem or record is None:
            return str(error)
        return (f"the snapshot of parent {parent} cannot be used ({getattr(error, 'path', '')}: {problem}); "
                f"re-run it: nbgraph run --force --only {record.node}")

    def _ready(self, pending: dict[str, Planned], running: dict[Future, Planned]) -> list[Planned]:
        free = self.executor.slots - len(running)
        ready = []
        for name, item in pending.items():
            if len(ready) >= free:
                break
            if all(p in self._snapshots for p in item.variant.parents):
                ready.append(item)
        return ready

    def _finish(self, item: Planned, outcome: Outcome, pending: dict[str, Planned]) -> None:
        variant = item.variant
        if outcome.ok and outcome.snapshot and not self.store.remote:
            self._verified[outcome.snapshot] = None  # run_job sealed it: every byte was just read
        if self.store.remote:  # keep the mirror complete: records there hold local paths
            if outcome.output:
                outcome.output = str(self.store.fetch(outcome.output))
            if outcome.snapshot:
                outcome.snapshot = str(self.store.fetch(outcome.snapshot, manifest_only=True))
        key, parts = with_parent_results(item.decision.parts, [self.result.records[p] for p in variant.parents])
        record = Record(
            name=variant.name, node=variant.node, status=SUCCEEDED if outcome.ok else FAILED,
            key=key, key_parts=parts, params=dict(variant.params),
            output=outcome.output, snapshot=outcome.snapshot, error=outcome.error,
            finished=time.time(), duration=round(outcome.duration, 3), skipped=outcome.skipped,
            collisions=_collisions([self._snapshots[p] for p in variant.parents]),
            parents=list(variant.parents), attempts=self._attempts.get(variant.name, 1),
            results=dict(outcome.results), run=self.run_id, uses=dict(outcome.uses),
        )
        record.started = record.finished - outcome.duration
        self._write_record(variant, record)
        self.result.records[variant.name] = record
        self.result.outcome[variant.name] = record.status
        if outcome.ok and outcome.snapshot:
            self._snapshots[variant.name] = outcome.snapshot
            _remove_old_snapshots(Path(outcome.snapshot), self.store)
        self.events.finished(item, record)  # the failure is reported before what it skips
        if not outcome.ok:
            for child in nx.descendants(self.plan.graph, variant.name):
                if child in pending:
                    self._skip(pending[child], f"parent {variant.name} failed", pending)

    def _write_record(self, variant, record: Record) -> None:
        self.plan.layout.write_record(variant, record)
        self.store.push_record(self.plan.layout.record_path(variant))

    def _skip(self, item: Planned, reason: str, pending: dict[str, Planned]) -> None:
        variant = item.variant
        pending.pop(variant.name, None)
        record = Record(name=variant.name, node=variant.node, status=SKIPPED, key=item.decision.key,
                        key_parts=dict(item.decision.parts), params=dict(variant.params),
                        error=f"skipped: {reason}", finished=time.time(), parents=list(variant.parents))
        self._write_record(variant, record)
        self.result.records[variant.name] = record
        self.result.outcome[variant.name] = SKIPPED
        self.events.finished(item, record)


def _collisions(parent_snapshots: list[str]) -> list[str]:
    """Variables that several parents pass down with different values (the later parent's wins)."""
    if len(parent_snapshots) < 2:
        return []
    from .snapshot.format import read_manifest
    from .notebook.provenance import collisions

    defined = []
    for path in parent_snapshots:
        manifest = read_manifest(Path(path), check_files=False)
        digests = {e["name"]: e.get("digest") for e in manifest.get("entries", [])}
        defined.append((path, {name: digests.get(name) for name in manifest.get("variables", {})}))
    return list(collisions(defined))


def _remove_old_snapshots(current: Path, store: Store) -> None:
    for old in current.parent.glob("snapshot-*"):
        if old != current and old.is_dir():
            if store.remote:
                store.remove(old)
            shutil.rmtree(old, ignore_errors=True)
