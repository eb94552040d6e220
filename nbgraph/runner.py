"""``nbgraph.run``: spec -> plan -> scheduler -> records.  The CLI is a thin layer over this."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterable

from .errors import RunFailed
from .executors.base import Executor
from .kernels import UNDER_RUN_ENV
from .plan import make_plan
from .live import attach
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
) -> RunResult:
    """Run every stale variant of the graph; children start from their parents' snapshots.

    Returns the :class:`RunResult`; with ``raise_on_failure`` a run with failed variants
    raises :class:`RunFailed` (carrying the result) instead.
    """
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    if timeout is not None:
        spec = dataclasses.replace(spec, timeout=timeout)
    plan = make_plan(spec, force=force, only=only)
    sign.signing_key()  # create it once, before kernels race to
    spec.build_dir.mkdir(parents=True, exist_ok=True)
    attached = []
    if attach.attached_nodes(spec, only):
        attached = attach.refresh(spec, only=only)  # live kernels first: their keys decide what is stale
        plan = make_plan(spec, force=force, only=only)
    owns_executor = executor is None
    if executor is None:
        from .executors.local import LocalExecutor

        executor = LocalExecutor(jobs)
    interrupted = True
    marked = os.environ.get(UNDER_RUN_ENV)
    os.environ[UNDER_RUN_ENV] = "1"  # inherited by the kernels started below
    try:
        result = Scheduler(plan, executor, events, strict=strict).run()
        interrupted = False
    finally:
        if owns_executor:
            executor.shutdown(cancel=interrupted)
        if marked is None:
            os.environ.pop(UNDER_RUN_ENV, None)
    for item in attached:
        result.outcome[item.variant.name] = attach.OUTCOME
    result.attached = attached
    if raise_on_failure and not result.ok:
        failed = result.names("failed")
        raise RunFailed(f"{len(failed)} variant(s) failed: {', '.join(failed)}", result=result)
    return result
