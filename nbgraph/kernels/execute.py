"""Papermill's engine machinery on a prepared notebook, and the executed notebook written once.

:func:`execute` is ``papermill.execute_notebook`` minus loading and parameterising (done
already, see :func:`nbgraph.kernels.run.prepare_notebook`) and minus writing: papermill would
serialise, validate and parse the notebook three more times per variant, and write nothing on a
timeout or a dead kernel.  :func:`finalize_output` writes it, once, to a temporary name first.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from ..states import Failure, FailureKind
from .job import Job

_imports = threading.Lock()
#: papermill's readers and writers for notebooks on S3 and Azure, which it imports with itself
#: (boto3: ~0.1 s at every run's start) and nbgraph never uses: it hands papermill local paths
REMOTE_IO = ("papermill.s3", "papermill.adl", "papermill.abs")


def import_papermill() -> None:
    """papermill, nbclient and nbgraph's engine, imported by one job thread at a time: two threads
    importing them at once can meet a module the other is still initialising (ImportError)."""
    with _imports:
        import papermill.engines  # noqa: F401
        import papermill.execute  # noqa: F401
        import papermill.iorw  # noqa: F401

        from . import engine  # noqa: F401


def without_remote_readers() -> None:
    """Have papermill, when this process imports it, fall back to its stubs for S3 and Azure (as
    where boto3 is not installed).  For the ``nbgraph`` command's own process only, which runs no
    user code: a library caller may want papermill's S3 reader in its own process."""
    if "papermill" not in sys.modules:
        for name in REMOTE_IO:
            sys.modules.setdefault(name, None)


def execute(job: Job, nb: Any, out: Path, log: Any, warm: Any = None) -> tuple[Failure | None, Any]:
    """The prepared notebook through nbgraph's papermill engine: why it failed (or None), and the
    executed notebook as far as it got (None if no cell ran).  ``warm``: the kernel manager of a
    kernel started ahead for this job (see ``kernels.fork.warm``)."""
    import papermill
    from papermill.engines import papermill_engines
    from papermill.execute import (
        prepare_notebook_metadata,
        raise_for_execution_errors,
        remove_error_markers,
    )

    from . import lifecycle
    from .engine import engine_name
    from .faults import KernelFault

    executed: list[Any] = []  # the engine puts the notebook it is executing here
    try:
        nb = remove_error_markers(prepare_notebook_metadata(nb, job.notebook, str(out)))
        cells = list(nb.cells)  # papermill inserts its error markers into nb.cells
        engine = engine_name()
        kernel = papermill_engines.nb_kernel_name(engine_name=engine, nb=nb, name=job.kernel)
        done = papermill_engines.execute_notebook_with_engine(
            engine, nb, kernel_name=kernel, input_path=job.notebook, output_path=None, progress_bar=False,
            log_output=False, start_timeout=60, execution_timeout=job.timeout, executed=executed,
            resources={"metadata": {"path": job.cwd}}, variant_log=log, run_id=job.run_id,
            fork_from=job.fork_from, kernel_env=job.env, warm=warm)
        raise_for_execution_errors(done, None)  # marks the failed cell as papermill does, writes nothing
        return None, done
    except papermill.PapermillExecutionError as e:
        return _cell_error(job, cells, e), _first(executed)
    except KernelFault as e:
        kind = FailureKind.TIMEOUT if e.kind == "timeout" else FailureKind.KERNEL_DIED
        return Failure(kind, str(e), job.node, job.variant, cell=e.cell, cell_line=e.line), _first(executed)
    except lifecycle.RunInterrupted as e:
        return Failure(FailureKind.INTERRUPTED, str(e), job.node, job.variant), None
    except Exception as e:  # the kernel could not start, or papermill itself failed
        error = f"{type(e).__name__}: {e}".strip().splitlines()[0]
        log.note(error)
        return Failure(FailureKind.COULD_NOT_RUN, error, job.node, job.variant), None


def _first(executed: list[Any]) -> Any:
    return executed[0] if executed else None


def _cell_error(job: Job, cells: list[Any], e: Any) -> Failure:
    """A cell raised: its one line names the exception, the cell and what the traceback calls it.
    ``cells``: the notebook's cells as executed (``e.cell_index`` counts them before papermill's
    error markers were inserted)."""
    from .faults import raised_where, where_cell

    error = f"{e.ename}: {e.evalue}".strip().splitlines()[0] if e.evalue else e.ename
    error = f"{error}, raised {raised_where(cells, e.cell_index)}"
    if getattr(e, "exec_count", None):  # what the traceback in the executed notebook calls it
        error = f"{error}, Cell In[{e.exec_count}] of the executed notebook"
    number, line = where_cell(cells, e.cell_index)
    return Failure(FailureKind.CELL_ERROR, error, job.node, job.variant, cell=number, cell_line=line,
                   ename=e.ename, evalue=e.evalue or None)


def finalize_output(nb: Any, out: Path, job: Job, error: str | None = None) -> None:
    """Point papermill's metadata at the real source and output, and write the executed notebook
    (to a temporary name first: an interrupted write leaves the previous one)."""
    import nbformat

    from ..fsutil import atomic_write_text

    pm = nb.metadata.setdefault("papermill", {})
    pm["input_path"] = job.notebook
    pm["output_path"] = str(out)
    pm["parameters"] = job.params
    nb.metadata["nbgraph"] = {"variant": job.variant, "node": job.node,
                              "parents": [name for name, _ in job.inherit]}
    if error:  # a timeout or a dead kernel leaves no error output in the cells: say it here
        nb.metadata["nbgraph"]["error"] = error
    atomic_write_text(out, nbformat.writes(nb))
