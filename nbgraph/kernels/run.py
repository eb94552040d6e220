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
while running and renamed into place at the end, success or failure; an interrupted run
leaves the previous ones as they were.
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
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
    build = Path(job.output).parents[2]  # <build>/<node>/<variant>/<notebook>
    return kernelcode.call(USES, "start", job.root or job.cwd, str(build))


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
    from . import lifecycle
    from .logs import VariantLog, log_path
    from .rebuilt import collect as collect_rebuilt
    from .results import collect_results

    lifecycle.check_run(job.run_id)
    out = Path(job.output)
    make_dirs(out.parent)
    partial = out.with_name(f".{out.stem}.partial.ipynb")
    try:
        nb = prepare_notebook(job)
    except (kernelcode.UnwritableValue, Unreadable) as e:  # nothing ran
        return Outcome(variant=job.variant, ok=False, output=None, error=str(e), duration=time.monotonic() - started,
                       failure=Failure(FailureKind.COULD_NOT_RUN, str(e), job.node, job.variant))
    with VariantLog(log_path(out), job.variant, sink, append=job.attempt > 1) as log:
        if job.attempt > 1:
            log.note(f"attempt {job.attempt} (retries)")
        failure, executed = _execute(job, nb, partial, log)
    try:
        lifecycle.check_run(job.run_id)
    except lifecycle.RunInterrupted:
        partial.unlink(missing_ok=True)  # interrupted: leave the previous executed notebook alone
        collect_rebuilt(job)  # and no report of a rebuild behind
        log.discard()  # and the previous log
        raise
    finalize_output(partial, out, job, failure.message if failure else None)
    results = collect_results(out)
    uses = _collect_uses(job, failure)
    rebuilt = collect_rebuilt(job)
    skipped: list[dict[str, str]] = []
    snapshot = None
    if failure is None and job.snapshot:
        snapshot, skipped, failure = _seal(job, executed)
    if failure is None or job.attempt > job.retries:  # else a retry follows and goes on with this log
        log.commit()
    output = str(out) if out.exists() else None
    if failure is not None:
        failure = dataclasses.replace(failure, notebook=output)
    return Outcome(variant=job.variant, ok=failure is None, output=output, snapshot=snapshot,
                   error=failure.message if failure else None, duration=time.monotonic() - started,
                   skipped=skipped, results=results, uses=uses, failure=failure,
                   rebuilt=list(rebuilt.get("rebuilt") or []), not_inherited=list(rebuilt.get("not_inherited") or []),
                   rebuild_seconds=rebuilt.get("seconds"))


def _execute(job: Job, nb: Any, partial: Path, log: Any) -> tuple[Failure | None, Any]:
    """papermill on the prepared notebook: why it failed (or None), and the executed notebook."""
    import papermill

    from . import lifecycle
    from .engine import engine_name
    from .faults import KernelFault

    try:
        executed = papermill.execute_notebook(
            nb, str(partial), parameters=None, engine_name=engine_name(), kernel_name=job.kernel,
            progress_bar=False, request_save_on_cell_execute=False, execution_timeout=job.timeout,
            resources={"metadata": {"path": job.cwd}}, variant_log=log, run_id=job.run_id,
            fork_from=job.fork_from, kernel_env=job.env)
        return None, executed
    except papermill.PapermillExecutionError as e:
        return _cell_error(job, nb, e), None
    except KernelFault as e:
        kind = FailureKind.TIMEOUT if e.kind == "timeout" else FailureKind.KERNEL_DIED
        return Failure(kind, str(e), job.node, job.variant, cell=e.cell, cell_line=e.line), None
    except lifecycle.RunInterrupted as e:
        return Failure(FailureKind.INTERRUPTED, str(e), job.node, job.variant), None
    except Exception as e:  # the kernel could not start, or papermill itself failed
        error = f"{type(e).__name__}: {e}".strip().splitlines()[0]
        log.note(error)
        return Failure(FailureKind.COULD_NOT_RUN, error, job.node, job.variant), None


def _cell_error(job: Job, nb: Any, e: Any) -> Failure:
    """A cell raised: its one line names the exception, the cell and what the traceback calls it."""
    from .faults import raised_where, where_cell

    error = f"{e.ename}: {e.evalue}".strip().splitlines()[0] if e.evalue else e.ename
    error = f"{error}, raised {raised_where(nb.cells, e.cell_index)}"
    if getattr(e, "exec_count", None):  # what the traceback in the executed notebook calls it
        error = f"{error}, Cell In[{e.exec_count}] of the executed notebook"
    number, line = where_cell(nb.cells, e.cell_index)
    return Failure(FailureKind.CELL_ERROR, error, job.node, job.variant, cell=number, cell_line=line,
                   ename=e.ename, evalue=e.evalue or None)


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


def finalize_output(partial: Path, out: Path, job: Job, error: str | None = None) -> None:
    """Point papermill's metadata at the real source and output, then move into place."""
    import nbformat

    from ..fsutil import atomic_write_text

    if not partial.exists():
        return
    try:
        nb = nbformat.read(partial, as_version=4)
        pm = nb.metadata.setdefault("papermill", {})
        pm["input_path"] = job.notebook
        pm["output_path"] = str(out)
        pm["parameters"] = job.params
        nb.metadata["nbgraph"] = {"variant": job.variant, "node": job.node,
                                  "parents": [name for name, _ in job.inherit]}
        if error:  # a timeout or a dead kernel leaves no error output in the cells: say it here
            nb.metadata["nbgraph"]["error"] = error
        atomic_write_text(out, nbformat.writes(nb))
        partial.unlink()
    except Exception:
        os.replace(partial, out)
        traceback.print_exc()
