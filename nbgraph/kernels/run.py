"""Execute one variant: papermill in a fresh kernel, with nbgraph's cells injected.

The executed notebook is, in order: a tagged cell that loads the parents' snapshots, the
source notebook with the parameters injected where papermill would put them (so parameters
win over inherited values), and a tagged cell that snapshots the kernel for the children.
The first and last of these also start and finish recording what the notebook's own cells
use (:mod:`nbgraph.notebook.uses`; a cell of its own where there is no inherit or snapshot cell)
and the history of its cells, which the snapshot keeps so that children rebuild what it could
not copy (:mod:`.rebuilt`);
:mod:`nbgraph.kernelcode` writes their source, with every value a literal, and the injected
cells call :mod:`nbgraph.notebook.inject`.  It and its log are written to temporary names
while running (the notebook, once, at the end: ``execute.finalize_output``) and renamed into place,
success or failure; an interrupted run leaves the previous ones as they were.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fsutil import make_dirs
from .. import kernelcode
from ..nbfile import Unreadable
from ..states import Failure, FailureKind
from .job import Job, Outcome

if TYPE_CHECKING:
    from .logs import Sink

INJECTED_TAG = "nbgraph-injected"
INHERIT_TAG = "nbgraph-inherit"
SNAPSHOT_TAG = "nbgraph-snapshot"
PARAMETERS_TAG = "parameters"
#: papermill's tag for the cell of injected parameters (kept: other tools look for it)
PAPERMILL_PARAMETERS_TAG = "injected-parameters"
USES_TAG = "nbgraph-uses"
#: the module the injected cells call, inside the kernel
INJECT = "nbgraph.notebook.inject"
#: the module that records, inside the kernel, what the notebook's cells use
USES = "nbgraph.notebook.uses"

__all__ = ["Job", "Outcome", "run_job", "prepare_notebook"]  # Job and Outcome live in .job


def _injected_cell(source: str, tags: list[str]):
    """A code cell of nbgraph's own, tagged so that it can be told from the notebook's cells."""
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = tags
    return cell


def _inherit_cell(job: Job):
    from .rebuilt import report_file

    parents = ", ".join(repr(name) for name, _ in job.inherit)
    options = {"verified": True} if job.verified else {}
    options.update({"rebuild": job.rebuild, "strict": job.strict, "report": str(report_file(job))})
    return _injected_cell(
        kernelcode.comment(f"nbgraph: injected cell - loads the kernel state inherited from {parents}") + "\n"
        + kernelcode.call(INJECT, "inherit", job.parents_to_load(), **options) + "\n" + _start_uses(job),
        [INJECTED_TAG, INHERIT_TAG])


def _snapshot_cell(job: Job):
    return _injected_cell(
        kernelcode.comment("nbgraph: injected cell - saves this kernel's state for the notebooks that inherit from it")
        + "\n" + _finish_uses(job) + "\n" + kernelcode.call(INJECT, "save", job.snapshot, exclude=list(job.exclude),
                                                          strict=job.strict, objects=job.objects,
                                                          rebuild=job.rebuild),
        [INJECTED_TAG, SNAPSHOT_TAG])


def uses_file(job: Job) -> Path:
    """Where the kernel writes what the notebook used (a temporary beside the executed notebook)."""
    out = Path(job.output)
    return out.with_name(f".{out.stem}.partial.uses.json")


def _start_uses(job: Job) -> str:
    """Recording starts once the parents' state is in: what loading it used is the parents'."""
    return kernelcode.call(USES, "start", job.root or job.cwd, str(job.build_folder))


def _finish_uses(job: Job) -> str:
    return kernelcode.call(USES, "finish", str(uses_file(job)))


def _uses_cell(source: str, what: str):
    return _injected_cell(kernelcode.comment(f"nbgraph: injected cell - {what}") + "\n" + source,
                          [INJECTED_TAG, USES_TAG])


def _with_parameters(nb, params: dict[str, Any]) -> None:
    """Put the parameters cell where papermill would: in place of an earlier run's, else after the
    cell tagged ``parameters``, else first.  Its source is nbgraph's own (``kernelcode.parameters``):
    papermill's translator writes NaN as ``float('nan')``, a name the inherited state may rebind,
    and a dict's non-string keys as strings."""
    tagged = [i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.metadata.get("tags", [])]
    previous = [i for i, c in enumerate(nb.cells) if PAPERMILL_PARAMETERS_TAG in c.metadata.get("tags", [])]
    cell = _injected_cell(kernelcode.parameters(params), [PAPERMILL_PARAMETERS_TAG])
    if previous:
        nb.cells[previous[0]] = cell
    else:
        nb.cells.insert(tagged[0] + 1 if tagged else 0, cell)
    nb.metadata.setdefault("papermill", {})["parameters"] = params


def prepare_notebook(job: Job):
    """The notebook papermill will execute: source + parameters + nbgraph's cells."""
    _quiet_missing_ids()
    nb = _load(job.notebook)
    if job.params:
        _with_parameters(nb, job.params)
    if job.inherit:
        nb.cells.insert(0, _inherit_cell(job))
    else:
        nb.cells.insert(0, _uses_cell(_start_uses(job), "records what this notebook's cells use"))
    if job.snapshot:
        nb.cells.append(_snapshot_cell(job))
    else:
        nb.cells.append(_uses_cell(_finish_uses(job), "writes down what this notebook's cells used"))
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})  # where papermill's engine times each cell
        if "id" not in cell and (nb.nbformat, nb.nbformat_minor) >= (4, 5):
            cell["id"] = uuid.uuid4().hex[:8]  # else nbformat warns on stderr for every write
    if job.snapshot:  # where each name came from, for the children (a notebook nothing inherits from needs none)
        from .rebuilt import start_history

        first = nb.cells[0]  # recorded from before the uses are (its import is nbgraph's)
        first.source = first.source.replace(_start_uses(job), start_history(job, nb.cells) + "\n" + _start_uses(job))
    return nb


def _load(path: str):
    """The source as papermill loads a notebook; a text notebook (``.py``...) converted by jupytext first."""
    from papermill.iorw import load_notebook_node

    from ..nbfile import TEXT_FORMATS, text_notebook

    if Path(path).suffix not in TEXT_FORMATS:
        return load_notebook_node(path)
    nb = text_notebook(path)
    nb.metadata.setdefault("papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}})
    for cell in nb.cells:
        cell.metadata.setdefault("papermill", {})
    return nb


def _quiet_missing_ids() -> None:
    """Cells without ids (hand-written or generated notebooks) are valid to papermill and get
    ids below; nbformat's warning about them would otherwise land on the user's terminal."""
    import warnings

    try:
        from nbformat.warnings import MissingIDFieldWarning
    except ImportError:  # older nbformat: no such warning
        return
    warnings.filterwarnings("ignore", category=MissingIDFieldWarning)


def run_job(job: Job, *, sink: "Sink | None" = None) -> Outcome:
    """Run one variant to completion; never raises for a notebook's own failure.

    ``sink`` receives the live output (default: this process's listeners, see ``logs``).
    With a remote build location, parents' snapshots are fetched into the local cache
    first and the results are published after; paths in the outcome are then URLs.
    """
    from ..snapshot.sign import KEY_ENV, using_key_file
    from .lifecycle import RunInterrupted

    started = time.monotonic()
    try:
        with using_key_file(job.env.get(KEY_ENV)):  # this thread seals with the run's key, as its kernel signs
            if job.store is None:
                return _run_local(job, sink, started)
            from .remote import run_remote

            return run_remote(job, lambda local_job: _run_local(local_job, sink, started))
    except RunInterrupted as e:
        return Outcome(variant=job.variant, ok=False, output=None, error=f"interrupted: {e}",
                       duration=time.monotonic() - started,
                       failure=Failure(FailureKind.INTERRUPTED, f"interrupted: {e}", job.node, job.variant))


def _run_local(job: Job, sink: "Sink | None", started: float) -> Outcome:
    from .execute import execute, finalize_output, import_papermill

    import_papermill()
    from . import lifecycle
    from .fork.warm import claim, discard
    from .logs import VariantLog, log_path
    from .rebuilt import collect as collect_rebuilt
    from .results import collect_results

    lifecycle.check_run(job.run_id)
    timings, phase = _stopwatch(started)
    out = Path(job.output)
    make_dirs(out.parent)
    try:
        nb = prepare_notebook(job)
    except (kernelcode.UnwritableValue, Unreadable) as e:  # nothing ran
        return Outcome(variant=job.variant, ok=False, output=None, error=str(e), duration=time.monotonic() - started,
                       failure=Failure(FailureKind.COULD_NOT_RUN, str(e), job.node, job.variant))
    warm = claim(job)  # a kernel forked ahead for this job, whose log this run's becomes
    try:
        log = VariantLog(log_path(out), job.variant, sink, append=job.attempt > 1, adopt=warm and warm.log)
    except BaseException:
        if warm is not None:
            discard(warm)
        raise
    with log:
        if job.attempt > 1:
            log.note(f"attempt {job.attempt} (retries)")
        phase("prepare")
        failure, executed = execute(job, nb, out, log, warm.km if warm else None)
    phase("kernel")
    try:
        lifecycle.check_run(job.run_id)
    except lifecycle.RunInterrupted:  # interrupted: leave the previous executed notebook alone
        collect_rebuilt(job)  # and no report of a rebuild behind
        log.discard()  # and the previous log
        raise
    if executed is not None:
        finalize_output(executed, out, job, failure.message if failure else None)
    results = collect_results(out)
    uses = _collect_uses(job, failure)
    rebuilt = collect_rebuilt(job)
    skipped: list[dict[str, str]] = []
    snapshot = None
    phase("write")
    if failure is None and job.snapshot:
        snapshot, skipped, failure = _seal(job, executed)
        phase("seal")
    _split_cells(timings, executed)
    if failure is None or job.attempt > job.retries:  # else a retry follows and goes on with this log
        log.commit()
    output = str(out) if out.exists() else None
    if failure is not None:
        failure = dataclasses.replace(failure, notebook=output)
    return Outcome(variant=job.variant, ok=failure is None, output=output, snapshot=snapshot,
                   error=failure.message if failure else None, duration=time.monotonic() - started,
                   skipped=skipped, results=results, uses=uses, failure=failure,
                   rebuilt=list(rebuilt.get("rebuilt") or []), not_inherited=list(rebuilt.get("not_inherited") or []),
                   rebuild_seconds=rebuilt.get("seconds"), timings=timings)


def _stopwatch(started: float):
    """The outcome's ``timings``, and ``phase(name)``, which adds to them the seconds since the
    previous phase ended (the first: since ``started``)."""
    timings: dict[str, float] = {}
    last = [started]

    def phase(name: str) -> None:
        now = time.monotonic()
        timings[name] = timings.get(name, 0.0) + now - last[0]
        last[0] = now

    return timings, phase


def _split_cells(timings: dict[str, float], executed: Any) -> None:
    """The cells' own seconds out of ``kernel`` (which timed the whole execution)."""
    cells = cell_seconds(executed)
    timings.update(cells)
    timings["kernel"] = max(0.0, timings.get("kernel", 0.0) - sum(cells.values()))


def cell_seconds(executed: Any) -> dict[str, float]:
    """papermill's durations of the executed notebook's cells: the notebook's own, and nbgraph's
    injected cells with the parameters (what a run costs beyond the notebook, per variant)."""
    from .faults import injected

    seconds = {"own_cells": 0.0, "injected_cells": 0.0}
    for cell in getattr(executed, "cells", None) or []:
        duration = float((cell.get("metadata", {}).get("papermill") or {}).get("duration") or 0.0)
        seconds["injected_cells" if injected(cell) else "own_cells"] += duration
    return seconds


def _seal(job: Job, executed: Any) -> tuple[str | None, list[dict[str, str]], Failure | None]:
    """Hash the snapshot's large buffers once, here, before any child: (snapshot, skipped, failure)."""
    from ..errors import SnapshotError
    from ..snapshot.format import binding, seal_snapshot

    try:
        manifest = seal_snapshot(Path(job.snapshot), bind=binding(job.variant, job.key, job.run_id))
        return job.snapshot, list(manifest.get("skipped", [])), None
    except SnapshotError as e:
        early = _stopped_early(executed)
        kind = FailureKind.CELL_ERROR if early else FailureKind.SNAPSHOT_REFUSED
        return None, [], Failure(kind, early or str(e), job.node, job.variant)


def _collect_uses(job: Job, failure: Failure | None) -> dict[str, Any]:
    """The record's ``uses`` (nothing for a failed run: it runs again anyway)."""
    from ..deps.collect import collect, read_recorded

    recorded = read_recorded(uses_file(job))
    if failure is not None:
        return {}
    return collect(recorded, Path(job.root or job.cwd), job.inputs)


def _stopped_early(executed: Any) -> str | None:
    """papermill takes ``sys.exit(0)`` in a cell as a successful early stop, so the snapshot
    cell never ran: say that, rather than that the snapshot is missing."""
    from .faults import raised_where

    cells = getattr(executed, "cells", None) or []
    for index, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") == "SystemExit":
                return (f"the notebook stopped early (SystemExit: {out.get('evalue') or 0}, raised "
                        f"{raised_where(cells, index)}), so its state was not saved for its children; "
                        f"remove that exit, or set 'snapshot: false' for this node if nothing inherits from it")
    return None
