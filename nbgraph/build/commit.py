"""The build location's side of a run: what the scheduler hands over when a variant is ready or ends.

The scheduler knows the graph and the executor; :class:`Build` knows where things live.
It turns a ready variant into its :class:`Job` (the parents' snapshots, checked once per
run), and a finished one into its record: the remote build location mirrored, the
snapshot's binding, the parents' colliding variables, the record written (a variant's
commit point) and pushed, then the variant's older snapshots removed.  Attached nodes,
which no executor runs, commit through the same :meth:`Build.write`.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..cache import with_parent_results
from ..graph import Variant
from ..kernels.job import Job, Outcome
from ..nbfile import kernel_for
from .records import FAILED, SKIPPED, SUCCEEDED, Record
from ..states import Failure, FailureKind
from .store import LocalStore, Store

if TYPE_CHECKING:
    from ..plan import Plan, Planned


def build_job(plan: "Plan", item: "Planned", parent_snapshots: list[tuple[str, str]], strict: bool = False,
              *, store: Store | None = None, run_id: str = "local", verified: bool = False,
              parent_records: list[Record] | None = None, env: Mapping[str, str] | None = None,
              rebuild: bool = True) -> Job:
    """The job of one variant; with a remote ``store`` its paths are the location's URLs.

    ``verified``: every byte of the parents' snapshots was read in this run.
    ``parent_records``: the parents' records, whose bindings the child's load checks and
    which complete the variant's key (signed into its own snapshot's binding).
    ``env``: what the run adds to its kernels' environment (``kernels.job.run_env``).
    ``rebuild``: false for the whole run (``--no-rebuild``); else the node's ``rebuild`` decides.
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
        variant=variant.name, node=variant.node, notebook=str(node.path),
        output=store.ref(plan.layout.output_path(variant, node.path)), cwd=str(node.path.parent),
        params=dict(variant.own_params), kernel=kernel_for(node.path, spec.node_kernel(node)),
        timeout=spec.node_timeout(node), inherit=tuple((name, store.ref(path)) for name, path in parent_snapshots),
        expect=expect, snapshot=snapshot, key=key,
        objects=store.ref(plan.layout.objects_dir) if snapshot else None, exclude=tuple(node.exclude), strict=node.strict or strict,
        verified=verified, retries=node.retries, run_id=run_id, store=store.location if store.remote else None,
        storage_options=dict(getattr(store, "storage_options", {}) or {}), env=dict(env or {}),
        root=str(spec.root), inputs=spec.node_inputs(node), rebuild=rebuild and node.rebuild,
    )


class Build:
    """A run's build location: records, the snapshots children may start from, their checks."""

    def __init__(self, plan: "Plan", store: Store | None = None, *, run_id: str = "local", strict: bool = False,
                 env: Mapping[str, str] | None = None, rebuild: bool = True) -> None:
        self.plan = plan
        self.rebuild = rebuild
        self.store = store or LocalStore(plan.layout.root)
        self.run_id = run_id
        self.strict = strict
        self.env = dict(env or {})
        #: every variant's latest record (from the plan, then this run's)
        self.records: dict[str, Record] = {i.variant.name: i.record for i in plan.items if i.record is not None}
        #: variant -> the snapshot its children start from (a variant that runs now has none until it ends)
        self.snapshots: dict[str, str] = {i.variant.name: i.record.snapshot for i in plan.items
                                          if not i.will_run and i.record is not None
                                          and i.record.status == SUCCEEDED and i.record.snapshot}
        self._verified: dict[str, str | None] = {}  # snapshot path -> None if sound, else why not

    def available(self, variant: str) -> bool:
        """Whether children of ``variant`` can start: it has a snapshot from this run or an earlier one."""
        return variant in self.snapshots

    def job(self, item: "Planned", attempt: int) -> Job | Failure:
        """The job that runs ``item``, or why its parents' snapshots cannot be used."""
        name = item.variant.name
        inputs = [(p, self.snapshots[p]) for p in item.variant.parents]
        parents = [self.records[p] for p in item.variant.parents]
        verified = not self.store.remote  # a remote worker checks what it downloads itself
        if verified:
            problem = self._verify(inputs, parents)
            if problem is not None:
                return Failure(FailureKind.SNAPSHOT_REFUSED, problem, item.variant.node, name)
        job = build_job(self.plan, item, inputs, self.strict, store=self.store, run_id=self.run_id,
                        verified=verified, parent_records=parents, env=self.env, rebuild=self.rebuild)
        return dataclasses.replace(job, attempt=attempt) if attempt > 1 else job

    def _verify(self, inputs: list[tuple[str, str]], parents: list[Record]) -> str | None:
        """Read every byte of each snapshot once per run: why one cannot be used, or None.

        A snapshot written in this run was sealed by its job (its large buffers hashed and
        signed in once the kernel was done, with its binding); one from an earlier run is
        verified here, its binding against its record's (a snapshot copied over from a
        sibling is refused).  Either way before any child starts, so children check only
        the signature, the binding, the pickle stream and the sizes, and none re-reads a
        buffer it may never touch.
        """
        from ..errors import SnapshotError
        from ..snapshot.format import seal_snapshot

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
        record = self.records.get(parent)
        if not problem or record is None:
            return str(error)
        return (f"the snapshot of parent {parent} cannot be used ({getattr(error, 'path', '')}: {problem}); "
                f"re-run it: nbgraph run --force --only {record.node}")

    def commit(self, item: "Planned", outcome: Outcome, attempts: int = 1) -> Record:
        """The record of a variant that ran (or could not start), written: the variant is done."""
        variant = item.variant
        if outcome.ok and outcome.snapshot and not self.store.remote:
            self._verified[outcome.snapshot] = None  # run_job sealed it: every byte was just read
        if self.store.remote:  # keep the mirror complete: records there hold local paths
            if outcome.output:
                outcome.output = str(self.store.fetch(outcome.output))
            if outcome.snapshot:
                outcome.snapshot = str(self.store.fetch(outcome.snapshot, manifest_only=True))
        key, parts = with_parent_results(item.decision.parts, [self.records[p] for p in variant.parents])
        record = Record(
            name=variant.name, node=variant.node, status=SUCCEEDED if outcome.ok else FAILED,
            key=key, key_parts=parts, params=dict(variant.params),
            output=outcome.output, snapshot=outcome.snapshot, error=outcome.error,
            finished=time.time(), duration=round(outcome.duration, 3), skipped=outcome.skipped,
            collisions=_collisions([self.snapshots[p] for p in variant.parents]),
            parents=list(variant.parents), attempts=attempts,
            results=dict(outcome.results), run=self.run_id, uses=dict(outcome.uses),
            failure=None if outcome.ok else _failure_of(variant, outcome).to_json(),
            rebuilt=list(outcome.rebuilt), not_inherited=list(outcome.not_inherited),
            rebuild_seconds=outcome.rebuild_seconds,
            timings={phase: round(seconds, 3) for phase, seconds in outcome.timings.items()},
        )
        record.started = record.finished - outcome.duration
        self.write(variant, record)
        return record

    def skip(self, item: "Planned", failure: Failure) -> Record:
        """The record of a variant that cannot run (a parent failed or has no snapshot)."""
        variant = item.variant
        failure = dataclasses.replace(failure, node=variant.node, variant=variant.name)
        record = Record(name=variant.name, node=variant.node, status=SKIPPED, key=item.decision.key,
                        key_parts=dict(item.decision.parts), params=dict(variant.params),
                        error=failure.line, finished=time.time(), parents=list(variant.parents),
                        failure=failure.to_json())
        self.write(variant, record)
        return record

    def write(self, variant: Variant, record: Record) -> None:
        """Commit a record (atomically, then to a remote location); a new snapshot retires the old ones."""
        layout = self.plan.layout
        layout.write_record(variant, record)
        self.store.push_record(layout.record_path(variant))
        self.records[variant.name] = record
        if record.status == SUCCEEDED and record.snapshot:
            self.snapshots[variant.name] = record.snapshot
            _remove_old_snapshots(Path(record.snapshot), self.store)


def _failure_of(variant: Variant, outcome: Outcome) -> Failure:
    """The outcome's failure with its variant named (an executor's own error has a line only)."""
    found = outcome.failure or Failure.from_line(outcome.error or "failed", node=variant.node, variant=variant.name)
    return dataclasses.replace(found, node=variant.node, variant=variant.name, notebook=outcome.output)


def _collisions(parent_snapshots: list[str]) -> list[str]:
    """Variables that several parents pass down with different values (the later parent's wins)."""
    if len(parent_snapshots) < 2:
        return []
    from ..snapshot.format import read_manifest
    from ..notebook.provenance import collisions

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
