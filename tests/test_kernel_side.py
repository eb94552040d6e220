"""What runs inside a kernel stays light, and every name nbgraph writes into a kernel's code exists.

Fast: no kernel starts; each check runs in a fresh interpreter, so what it imports is all
that a kernel would pay for.
"""

import importlib
import subprocess
import sys

import pytest

#: what a kernel must not pay for when it loads nbgraph's side of the code
HEAVY = ("papermill", "nbclient", "networkx", "jupyter_server", "yaml", "click", "rich")

#: the modules a kernel imports: at start (the injected cells, the fd stream), and when a notebook
#: calls nbgraph (record, inherit_from, its result, a live parent's dump)
KERNEL_MODULES = ["nbgraph.notebook", "nbgraph.notebook.inject", "nbgraph.notebook.fdstream",
                  "nbgraph.notebook.record", "nbgraph.notebook.inherit", "nbgraph.notebook.provenance",
                  "nbgraph.notebook.live_dump", "nbgraph.notebook.history", "nbgraph.notebook.rebuild",
                  "nbgraph.notebook.slicer", "nbgraph.notebook.safety", "nbgraph.notebook.statements"]


def _heavy_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("heavy:"), done.stdout
    return [m for m in last.removeprefix("heavy:").split(",") if m]


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_importing_the_kernel_side_stays_light(module):
    assert _heavy_after(f"import {module}") == []


def test_saving_loading_recording_and_a_live_dump_stay_light(tmp_path):
    """Not only the imports: what the injected cells, ``nbgraph.record`` and a live dump do."""
    code = (f"from nbgraph.notebook import inject, live_dump, record\n"
            f"ns = {{'x': 1, 'rows': [1, 2]}}\n"
            f"inject.save({str(tmp_path / 'a')!r}, ns=ns)\n"
            f"inject.inherit([['a', {str(tmp_path / 'a')!r}]], ns={{}})\n"
            f"live_dump.dump({str(tmp_path / 'b')!r}, ns=ns)\n"
            f"record.record('score', 0.5)\n"
            f"import nbgraph\nnbgraph.inherit_from, nbgraph.record, nbgraph.Inherited")
    assert _heavy_after(code) == []


def _resolve(dotted: str, attribute: str) -> object:
    return getattr(importlib.import_module(dotted), attribute)


def test_every_name_written_into_a_kernel_exists():
    """The injected cells, the live dump request, the fd stream and the zygote name modules by
    their dotted path in code nbgraph writes: a module that moved would fail only inside a kernel."""
    from nbgraph.kernels import run
    from nbgraph.kernels.engine import FD_ONCE
    from nbgraph.kernels.fork.manager import ZYGOTE_MAIN
    from nbgraph.live import kernel

    assert callable(_resolve(run.INJECT, "inherit")) and callable(_resolve(run.INJECT, "save"))
    assert callable(_resolve(run.INJECT, "preload"))  # the zygote's
    from nbgraph.kernels.rebuilt import HISTORY

    assert callable(_resolve(HISTORY, "start"))
    assert callable(_resolve(kernel.DUMP_MODULE, "dump"))
    module, _, cls = FD_ONCE.split("=", 1)[1].rpartition(".")
    from ipykernel.iostream import OutStream

    assert issubclass(_resolve(module, cls), OutStream)
    zygote = ZYGOTE_MAIN.split()[1]  # "from <module> import main; main()"
    assert callable(_resolve(zygote, "main"))


def test_the_code_written_into_kernels_names_those_modules(tmp_path):
    from nbgraph.kernels.job import Job
    from nbgraph.kernels.run import INJECT, prepare_notebook
    from nbgraph.live.kernel import DUMP_MODULE, dump_code
    from conftest import write_notebook

    nb = write_notebook(tmp_path / "n.ipynb", "x = 1")
    job = Job(variant="n", node="n", notebook=str(nb), output=str(tmp_path / "out.ipynb"), cwd=str(tmp_path),
              inherit=(("p", str(tmp_path / "snap")),), snapshot=str(tmp_path / "mine"))
    cells = prepare_notebook(job).cells
    assert f"from {INJECT} import inherit as " in cells[0].source
    assert f"from {INJECT} import save as " in cells[-1].source
    from nbgraph.kernels.rebuilt import HISTORY

    assert f"from {HISTORY} import start as " in cells[0].source
    assert f"from {DUMP_MODULE} import dump as " in dump_code(tmp_path / "d", (), None)
