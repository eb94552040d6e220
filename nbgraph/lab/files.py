"""The files the Lab panel opens or makes: a viewing copy of an executed notebook, a notebook
started from a variant's state, a node added to the spec.

An executed notebook is opened as a copy under ``<build>/lab/`` (refreshed on each open), so
editing or saving it in Lab can never change what the build recorded.  Paths returned are
absolute; the REST layer turns them into the server's contents paths.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from ..errors import SelectionError
from ..names import LAB_DIR


@dataclass(frozen=True)
class Opened:
    notebook: Path
    log: Path | None


def executed_copy(spec_path: Path, variant: str, allowed: Callable[[Path], object] = lambda path: None) -> Opened:
    """A fresh copy of ``variant``'s executed notebook (and its log) under ``<build>/lab/``."""
    from ..command import opened
    from ..kernels.logs import log_path
    from ..plan import make_plan

    spec = opened(spec_path)
    item = _planned(make_plan(spec), variant)
    record = item.record
    if record is None or not record.output or not Path(record.output).is_file():
        raise SelectionError(f"{variant} has no executed notebook yet: run it first", variant=variant)
    source = Path(record.output)
    target = spec.build_dir / LAB_DIR / source.relative_to(spec.build_dir)
    allowed(target)  # refused before anything is written (outside the server's root, say)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    log = log_path(source)
    copied_log = None
    if log.is_file():
        copied_log = target.with_name(log.name)
        shutil.copyfile(log, copied_log)
    return Opened(target, copied_log)


def new_from_variant(spec_path: Path, variant: str, allowed: Callable[[Path], object] = lambda path: None) -> Path:
    """A new notebook beside the node's notebook whose first cell takes the state ``variant`` started from.

    ``allowed(path)`` raises for a place the caller may not write (checked before writing).
    """
    from ..command import opened
    from ..plan import make_plan

    spec = opened(spec_path)
    item = _planned(make_plan(spec), variant)
    if not item.variant.parents:
        raise SelectionError(f"{variant} has no parent: it starts from an empty kernel, so there is no state "
                             "to start a notebook from", variant=variant)
    folder = item.node.path.parent
    relspec = os.path.relpath(spec.file, folder)
    nb = nbformat.v4.new_notebook()
    kernel = spec.node_kernel(item.node) or "python3"
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"The state **{item.variant.name}** started from "
                                              f"(its parents' snapshots and parameters)."),
                nbformat.v4.new_code_cell(f"from nbgraph import inherit_from\n"
                                          f"inherit_from({item.variant.name!r}, spec={relspec!r})")]
    path = _free_name(folder, f"{item.node.path.stem}-from-{item.node.name}")
    allowed(path)
    nbformat.write(nb, path)
    return path


def _free_name(folder: Path, stem: str) -> Path:
    for n in range(1, 10_000):
        path = folder / (f"{stem}.ipynb" if n == 1 else f"{stem}-{n}.ipynb")
        if not path.exists():
            return path
    raise SelectionError(f"{folder}: too many notebooks named {stem}-N.ipynb; remove some")


def _planned(plan, name: str):
    """The planned variant a (possibly partial) name designates; a clear error if none or several."""
    from ..graph import one_variant

    return plan.by_name[one_variant(plan.graph, name, plan.spec).name]
