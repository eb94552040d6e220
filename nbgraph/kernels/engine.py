"""nbgraph's papermill engine: papermill's nbclient engine, with nbgraph owning the kernel.

Why not papermill's own engine: nbgraph must (1) own the kernel manager, so it can kill
the kernel on a timeout, on Ctrl-C or when the run is cancelled, from any thread;
(2) send the kernel process's stdout/stderr to the variant's log instead of the user's
terminal; (3) stream cell output to that log while the cell runs; (4) know which cell
was running when the kernel timed out or died.  nbclient's ``km``/``owns_km`` pattern
gives (1): the client is handed a manager it does not own and never shuts it down.

Output written straight to file descriptors 1 and 2 (a subprocess's, a C library's): an
ipykernel kernel forwards it to the notebook and also copies it to its own stdout/stderr,
which are the log, where the notebook's stream output goes too.  ipykernel kernels are
started with :mod:`nbgraph.notebook.fdstream`'s stream, which forwards it to the notebook only, so each such
write is logged once and the executed notebook shows it as JupyterLab does.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import remove_args

from . import faults, lifecycle
from .fork.support import launched_by_ipykernel
from .logs import VariantLog

ENGINE_NAME = "nbgraph"
#: fd output to the notebook, not copied to the log a second time (see the docstring)
FD_ONCE = "--IPKernelApp.outstream_class=nbgraph.notebook.fdstream.NotebookOnlyOutStream"
logger = logging.getLogger("nbgraph.kernels")
logger.addHandler(logging.NullHandler())  # faults are reported as outcomes, not log records
logger.propagate = False


class _Client(PapermillNotebookClient):
    """Papermill's client, plus: kernel output to the log, current cell tracked."""

    def __init__(self, nb_man: Any, *, variant_log: VariantLog, run_id: str, kernel_env: Mapping[str, str],
                 **kw: Any) -> None:
        super().__init__(nb_man, **kw)
        self.variant_log = variant_log
        self.run_id = run_id
        self.kernel_env = dict(kernel_env)
        self.current_index: int | None = None

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        lifecycle.check_run(self.run_id)
        kwargs.setdefault("stdout", self.variant_log.kernel_stream)
        kwargs.setdefault("stderr", self.variant_log.kernel_stream)
        # the job's env, as jupyter_client passes it on: a Popen's env, or a forked kernel's request
        kwargs.setdefault("env", {**os.environ, **self.kernel_env})
        self.extra_arguments = kernel_arguments(self.km, self.extra_arguments)
        await super().async_start_new_kernel(**kwargs)
        lifecycle.register(self.run_id, self.km)

    start_new_kernel = run_sync(async_start_new_kernel)

    async def async_execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
        self.current_index = cell_index
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)

    execute_cell = run_sync(async_execute_cell)

    def log_output_message(self, output: Any) -> None:
        if output.output_type == "stream":
            self.variant_log.write("".join(output.text), output.name)
        elif output.output_type == "error":
            self.variant_log.write("\n".join(output.get("traceback", [])) + "\n", "stderr")


class NbgraphEngine(NBClientEngine):
    """Registered under :data:`ENGINE_NAME`; takes ``variant_log``, ``run_id``, ``fork_from``,
    ``kernel_env`` (added to the kernel's environment), ``executed`` (a list the notebook being
    executed is appended to, so that a caller has it even when the kernel times out or dies) and
    ``warm`` (a kernel manager whose kernel is started already) keywords."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                 stdout_file: Any = None, stderr_file: Any = None, start_timeout: float = 60,
                                 execution_timeout: float | None = None, **kwargs: Any) -> Any:
        variant_log: VariantLog = kwargs.pop("variant_log")
        run_id: str = kwargs.pop("run_id")
        fork_from: str | None = kwargs.pop("fork_from", None)
        kernel_env: Mapping[str, str] = kwargs.pop("kernel_env", None) or {}
        kwargs.pop("executed", []).append(nb_man.nb)  # the caller keeps it, whatever happens below
        warm = kwargs.pop("warm", None)  # a kernel manager started ahead (kernels.fork.warm): nbclient uses it
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        km = warm if warm is not None else lifecycle.new_kernel_manager(kernel_name, fork_from=fork_from)
        # nbclient's ``timeout`` trait is an int; ``timeout_func`` keeps fractional seconds
        client = _Client(nb_man, km=km, variant_log=variant_log, run_id=run_id, kernel_env=kernel_env, timeout=None,
                         timeout_func=(lambda cell: execution_timeout) if execution_timeout else None,
                         startup_timeout=start_timeout, kernel_name=kernel_name, log=logger, log_output=True,
                         **kwargs)
        kill = True
        try:
            nb = client.execute()
            kill = False
            return nb
        except CellTimeoutError:
            lifecycle.kill(km)
            lifecycle.check_run(run_id)  # killed by nbgraph's own Ctrl-C: that is what ended it
            fault = faults.timed_out(client.nb.cells, client.current_index, execution_timeout)
            variant_log.note(str(fault))
            raise fault from None
        except DeadKernelError:
            lifecycle.check_run(run_id)
            fault = faults.died(client.nb.cells, client.current_index, _returncode(km))
            variant_log.note(str(fault))
            raise fault from None
        finally:
            run_sync(_close)(client, km, kill)
            lifecycle.unregister(run_id, km)


async def _close(client: _Client, km: Any, kill: bool) -> None:
    """Stop the client's channels and the kernel: gracefully after success, SIGKILL otherwise."""
    kc = getattr(client, "kc", None)
    if kc is not None:
        try:
            kc.stop_channels()
        except Exception:
            pass
        client.kc = None
    if not km.has_kernel:
        return
    if kill:
        lifecycle.kill(km)
    try:
        await km.shutdown_kernel(now=kill)
    except Exception:
        lifecycle.kill(km)
        try:
            await km.cleanup_resources()
        except Exception:
            pass


#: nbclient's default ``ipython_hist_file``: the kernel's input history stays in memory
HISTORY_IN_MEMORY = "--HistoryManager.hist_file=:memory:"


def kernel_arguments(km: Any, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The extra arguments nbgraph starts a kernel with (the same whoever starts it: nbclient, or
    ``kernels.fork.warm`` ahead of its job)."""
    args = list(extra)
    if _is_ipykernel(km):
        if FD_ONCE not in args:
            args.append(FD_ONCE)
        if not any(a.startswith("--HistoryManager.hist_file") for a in args):
            args.append(HISTORY_IN_MEMORY)
    return args


def _is_ipykernel(km: Any) -> bool:
    try:
        argv = list(km.kernel_spec.argv)
    except Exception:  # no such kernel: starting it says so
        return False
    return launched_by_ipykernel(argv)


def _returncode(km: Any) -> int | None:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is None:
        return None
    try:
        process.wait(timeout=2)
    except Exception:
        return None
    return process.returncode


def engine_name() -> str:
    """Register the engine (idempotent, explicit rather than an import side effect)."""
    if ENGINE_NAME not in papermill_engines._engines:
        papermill_engines.register(ENGINE_NAME, NbgraphEngine)
    return ENGINE_NAME
