"""``nbgraph.run``: spec -> plan -> scheduler -> records.  The CLI is a thin layer over this.

A run holds the build folder's lock from start to end, so a second run on the same
folder is refused instead of racing the first.  Under the lock it first removes the
temporary files a killed run may have left (a half-written snapshot or notebook never
had a record pointing to it), so the next run simply completes what is left.

On KeyboardInterrupt (Ctrl-C; the CLI turns SIGTERM into one too) the run stops
scheduling, kills every kernel it started (on every Dask worker too), lets in-flight jobs
discard their partial files, and re-raises: no record is written for what was cut short.

A run leaves the caller's ``os.environ`` alone, so runs in several threads of one process do
not meet: its key file is a context variable here (``snapshot.sign.using_key_file``) and goes
to its kernels in each job's ``env``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import preflight
from .build.commit import Build
from .errors import RunFailed, SpecError, StoreError
from .executors.base import Executor, RunInfo
from .fsutil import make_dirs
from .kernels.job import run_env
from .kernels.logs import Sink, add_listener, remove_listener
from .live import attach
from .build.lock import BuildLock
from .plan import make_plan
from .build.records import BuildLayout
from .scheduler import Events, RunResult, Scheduler
from .snapshot import sign
from .spec import DEFAULT_SPEC, Spec, load_spec
from .build.location import open_store
from .build.store import Store, clean_partials


def open_build(spec: Spec, *, create: bool = True) -> Store:
    """The spec's build location, with its records mirrored locally when it is remote.

    Commands that only look (``status``, ``results``, ``plot``, ``run --dry-run``) pass
    ``create=False``: a build folder that does not exist yet has no records, and looking at
    it must not make it (it is still refused, as bad input, when it could not be made).
    """
    if create:
        make_build_dir(spec)
    else:
        _check_build_dir(spec)
    store = open_store(spec.build_location, spec.storage_options, root=spec.build_dir)
    store.pull_records()
    return store


def make_build_dir(spec: Spec) -> None:
    """Create the build folder (or a URL's local mirror); a path that cannot be one is bad input."""
    try:
        make_dirs(spec.build_dir)
    except OSError as e:
        raise _cannot_create(spec, e.strerror or str(e)) from None


def _check_build_dir(spec: Spec) -> None:
    """Refuse, without creating anything, a build folder that could not be created."""
    folder = spec.build_dir
    if folder.is_dir() or spec.build_url:
        return
    if folder.exists():
        raise _cannot_create(spec, "File exists")
    existing = next(p for p in folder.parents if p.exists())
    if not existing.is_dir():
        raise _cannot_create(spec, f"{existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _cannot_create(spec, f"{existing} is not writable")


def _cannot_create(spec: Spec, why: str) -> StoreError:
    return StoreError(f"build_dir {spec.build_dir}: cannot create it ({why}); "
                      f"set 'build_dir' in {spec.file.name} to a folder you can write",
                      location=str(spec.build_dir))


def check_owner(spec: Spec) -> None:
    """Refuse a build folder where a node's folder holds another spec's variants: running would
    mix (or overwrite) two specs' outputs of one name."""
    found = BuildLayout.for_spec(spec).foreign(spec.nodes)
    if found is None:
        return
    folder, other = found
    node = folder.parent.name
    raise SpecError.at(spec.file, f"{folder.parent} holds what another spec, {other}, ran for its node '{node}'; "
                       f"specs that share a build folder cannot share node names: give one of them its own "
                       f"build_dir (e.g. build_dir: build-{spec.file.stem}), or delete {other.name} if this spec "
                       "replaces it", node=node, field="build_dir")


def _claim(plan, store: Store) -> None:
    """Stamp this spec on its records that carry no stamp yet (or a renamed spec's), so that
    another spec sharing the build folder leaves them alone from now on."""
    layout = plan.layout
    for item in plan.items:
        if item.record is not None and item.record.spec != layout.owner:
            layout.write_record(item.variant, item.record)
            store.push_record(layout.record_path(item.variant))


def make_executor(kind: str, *, jobs: int | None = None, scheduler: Any = None,
                  forward_output: bool = False) -> Executor:
    """An executor by name: ``local`` (threads on this machine) or ``dask``."""
    if kind == "dask":
        from .executors.dask import DaskExecutor

        return DaskExecutor(scheduler, jobs, forward_output=forward_output)
    from .executors.local import LocalExecutor

    return LocalExecutor(jobs)


def run(
    spec: str | Path | Spec = DEFAULT_SPEC,
    *,
    only: Iterable[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    timeout: float | None = None,
    strict: bool = False,
    executor: Executor | str | None = None,
    scheduler: Any = None,
    events: Events | None = None,
    log_output: Sink | None = None,
    raise_on_failure: bool = False,
    fork: bool | None = None,
    key_file: str | Path | None = None,
    rebuild: bool = True,
) -> RunResult:
    """Run every stale variant of the graph; children start from their parents' snapshots.

    ``executor`` is an :class:`Executor` (yours: it is not shut down), or ``"local"`` /
    ``"dask"`` (default: the spec's ``executor``, else local); ``scheduler`` is a Dask
    address or ``distributed.Client`` (default: the spec's ``scheduler``, else an
    in-process cluster).  ``log_output(variant, stream, text)`` receives live cell output.
    Returns the :class:`RunResult`; with ``raise_on_failure`` a run with failed variants
    raises :class:`RunFailed` (carrying the result) instead.  ``fork`` (default: the spec's
    ``fork``, true) lets children fork from a zygote holding their parent's state instead of
    starting fresh kernels, where that is safe (see ``nbgraph.kernels.fork``).  ``key_file``
    (default: ``$NBGRAPH_KEY_FILE``, else ``~/.config/nbgraph/snapshot.key``) is the key this
    run's snapshots are signed and verified with.  ``rebuild=False`` (``--no-rebuild``): no child
    rebuilds what its parents' snapshots could not copy (see ``nbgraph.notebook.rebuild``).
    """
    with sign.using_key_file(key_file) as named:
        return _run(spec, only=only, force=force, jobs=jobs, timeout=timeout, strict=strict, executor=executor,
                    scheduler=scheduler, events=events, log_output=log_output,
                    raise_on_failure=raise_on_failure, fork=fork, env=run_env(named), rebuild=rebuild)


def _run(spec, *, only, force, jobs, timeout, strict, executor, scheduler, events, log_output,
         raise_on_failure, fork, env: Mapping[str, str], rebuild: bool = True) -> RunResult:
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    if timeout is not None:
        spec = dataclasses.replace(spec, timeout=timeout)
    make_build_dir(spec)
    with BuildLock(spec.build_dir, spec.build_location):
        clean_partials(spec.build_dir)
        store = open_build(spec)
        check_owner(spec)
        plan = make_plan(spec, force=force, only=only)
        _claim(plan, store)
        sign.signing_key()  # create it once, before kernels race to
        run_id = uuid.uuid4().hex
        attached = []
        if attach.attached_nodes(spec, only):  # their new snapshots' keys decide what is stale below them
            attached = attach.refresh(plan, Build(plan, store, run_id=run_id), strict=strict)
            plan = plan.redecide()
        preflight.check(plan, executor)
        fork = plan.spec.fork if fork is None else fork
        build = Build(plan, store, run_id=run_id, strict=strict, env=env, rebuild=rebuild)
        result = _execute(plan, build, executor, scheduler, jobs, events, log_output, fork)
    for item in attached:
        result.outcome[item.variant.name] = attach.OUTCOME
    result.attached = attached
    if raise_on_failure and not result.ok:
        failed = result.names("failed")
        raise RunFailed(f"{len(failed)} variant(s) failed: {', '.join(failed)}", result=result)
    return result


def _execute(plan, build: Build, executor, scheduler, jobs, events, log_output, fork: bool) -> RunResult:
    run_id = build.run_id
    owns_executor = not isinstance(executor, Executor)
    if owns_executor:
        kind = executor or plan.spec.executor or "local"
        executor = make_executor(kind, jobs=jobs, scheduler=scheduler or plan.spec.scheduler,
                                 forward_output=log_output is not None)
    if log_output is not None:
        add_listener(log_output)
    interrupted = True
    started = False
    try:
        children = _fork_children(plan, executor) if fork else ()
        executor.start_run(RunInfo(run_id, children, build.env, _imports_ahead(plan) if children else ()))
        started = True
        result = Scheduler(plan, executor, build, events).run()
        interrupted = False
    finally:
        if interrupted:
            executor.cancel(run_id)
        if started:
            executor.end_run(run_id)
        if owns_executor:
            executor.shutdown(cancel=interrupted)
        if log_output is not None:
            remove_listener(log_output)
    return result


def _imports_ahead(plan) -> tuple[str, ...]:
    """What loading the parents this run executes will import, as their previous snapshots say:
    the zygotes then import it while those parents run, not after (the study's scikit-learn)."""
    from .kernels.fork.imports import ahead_of

    parents = [plan.by_name[p] for p in sorted({p for item in plan.to_run for p in item.variant.parents})
               if p in plan.by_name]
    return tuple(ahead_of([p.record.snapshot for p in parents if p.will_run and p.record and p.record.snapshot]))


def _fork_children(plan, executor: Executor) -> tuple:
    """The variants the executor may fork from zygotes in this run (children from one holding their
    parents' state, the others from one holding none), or none (saying why once)."""
    children = tuple((tuple(item.variant.parents), str(item.node.path.parent), str(item.node.path),
                      plan.spec.node_kernel(item.node)) for item in plan.to_run)
    if not children:
        return ()
    why = None
    if not executor.runs_kernels_here:
        why = f"{type(executor).__name__} runs kernels elsewhere"
    elif plan.spec.build_url:
        why = "the snapshots live at a remote build location"
    if why:
        if any(parents for parents, *_ in children):
            print(f"nbgraph: not forking kernels: {why}; children start fresh kernels", file=sys.stderr, flush=True)
        return ()
    return children
