"""``nbgraph.run``: spec -> plan -> scheduler -> records.  The CLI is a thin layer over this."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Iterable

from .errors import RunFailed
from .executors.base import Executor
from .plan import make_plan
from .scheduler import Events, RunResult, Scheduler
from .snapshot import sign
from .spec import DEFAULT_SPEC, Spec, load_spec


def run(
    spec: str | Path | Spec = DEFAULT_SPEC,
    *,
    only: Iterable[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    timeout: float | None = None,
    strict: bool = False,
    executor: Executor | None = None,
    events: Events | None = None,
    raise_on_failure: bool = False,
    fork: bool | None = None,
) -> RunResult:
    """Run every stale variant of the graph; children start from their parents' snapshots.

    Returns the :class:`RunResult`; with ``raise_on_failure`` a run with failed variants
    raises :class:`RunFailed` (carrying the result) instead.  ``fork`` (default: the spec's
    ``fork``, true) lets children fork from a zygote holding their parent's state instead of
    starting fresh kernels, where that is safe (see ``nbgraph.kernels.fork``).
    """
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    if timeout is not None:
        spec = dataclasses.replace(spec, timeout=timeout)
    plan = make_plan(spec, force=force, only=only)
    sign.signing_key()  # create it once, before kernels race to
    spec.build_dir.mkdir(parents=True, exist_ok=True)
    owns_executor = executor is None
    if executor is None:
        from .executors.local import LocalExecutor

        executor = LocalExecutor(jobs)
    forks = _fork_manager(plan, executor) if (spec.fork if fork is None else fork) else None
    interrupted = True
    try:
        result = Scheduler(plan, executor, events, strict=strict).run()
        interrupted = False
    finally:
        if owns_executor:
            executor.shutdown(cancel=interrupted)
        if forks is not None:
            executor.forks = None  # type: ignore[attr-defined]
            forks.close()
    if raise_on_failure and not result.ok:
        failed = result.names("failed")
        raise RunFailed(f"{len(failed)} variant(s) failed: {', '.join(failed)}", result=result)
    return result


def _fork_manager(plan, executor: Executor):
    """Let a local executor fork children from zygotes for this run; other executors run fresh kernels."""
    from .executors.local import LocalExecutor
    from .kernels.fork.manager import fork_manager

    children = [(item.variant.parents, str(item.node.path.parent), str(item.node.path), plan.spec.node_kernel(item.node))
                for item in plan.to_run if item.variant.parents]
    if not children:
        return None
    if not isinstance(executor, LocalExecutor) or executor.forks is not None:
        print(f"nbgraph: not forking kernels: {type(executor).__name__} runs kernels elsewhere; "
              "children start fresh kernels", file=sys.stderr, flush=True)
        return None
    executor.forks = fork_manager(children)
    return executor.forks
