"""Checks on a plan before anything runs: bad input is refused before the first kernel starts.

A kernel name that jupyter does not know (a typo in ``kernel:``, or a notebook saved in
someone else's conda environment) would otherwise fail every variant of the node one by
one, after its parents ran, with exit code 1 as if a notebook had raised.  It is bad input:
one line naming the node and what to do, exit 2.  A node whose notebook has no cell tagged
``parameters`` gets a note: its own code can override the values it is given.

Every notebook is read through :mod:`nbgraph.nbfile`, which the spec and the plan have
already asked: nothing here parses a notebook a second time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .errors import SpecError
from .nbfile import DEFAULT_KERNEL, TEXT_FORMATS, kernel_for, read_notebook
from .spec import NodeSpec, Spec

if TYPE_CHECKING:
    from .executors.base import Executor
    from .plan import Plan


def check(plan: "Plan", executor: object = None) -> None:
    """What ``nbgraph.run`` checks once its plan is made: raise for bad input, print the notes."""
    nodes = {item.variant.node: item.node for item in plan.to_run}
    if nodes and runs_here(plan.spec, executor):
        check_kernels(plan.spec, nodes.values())
    for note in kernel_notes(plan.spec, nodes.values()) + untagged_notes(plan):
        print(note, file=sys.stderr, flush=True)


def kernel_notes(spec: Spec, nodes: Iterable[NodeSpec]) -> list[str]:
    """Once per node: its notebook names no kernel and the spec none either, so it runs on python3
    (papermill alone would refuse it at run time)."""
    return [f"nbgraph: note: {node.path.name} (node {node.name}) names no kernel ({_no_kernelspec(node.path)}); "
            f"it runs on {DEFAULT_KERNEL}; set 'kernel:' in {spec.file.name} to choose another"
            for node in nodes if not node.attach and not spec.node_kernel(node)
            and read_notebook(node.path).problem is None and not read_notebook(node.path).kernel]


def _no_kernelspec(path: Path) -> str:
    return "no kernelspec in its jupytext header" if path.suffix in TEXT_FORMATS else "no metadata.kernelspec"


def _tag_hint(path: Path) -> str:
    return " (its '# %%' line: '# %% tags=[\"parameters\"]')" if path.suffix == ".py" else ""


def runs_here(spec: Spec, executor: "Executor | str | None" = None) -> bool:
    """Whether kernels start on this machine (the local executor), so that its kernels matter.

    ``executor``: what ``nbgraph.run`` was given (an executor, its name, or None for the spec's).
    """
    if executor is None:
        return (spec.executor or "local") == "local"
    if isinstance(executor, str):
        return executor == "local"
    return bool(getattr(executor, "runs_kernels_here", False))  # an Executor says so itself


def check_kernels(spec: Spec, nodes: Iterable[NodeSpec]) -> None:
    """Raise :class:`SpecError` for the first node whose kernel is not installed on this machine."""
    from jupyter_client.kernelspec import KernelSpecManager

    installed: set[str] | None = None
    for node in nodes:
        if node.attach:
            continue
        declared = spec.node_kernel(node)
        name = kernel_for(node.path, declared)
        if installed is None:
            installed = set(KernelSpecManager().find_kernel_specs())
        if name.lower() in {k.lower() for k in installed}:  # jupyter matches names case-insensitively
            continue
        raise _not_installed(spec, node, name, declared, ", ".join(sorted(installed)) or "none")


def untagged_notes(plan: "Plan") -> list[str]:
    """Once per node with parameters: its notebook has no cell tagged ``parameters``, so they
    go above its first cell, where its own code can override them."""
    nodes = {item.node.name: item.node for item in plan.to_run if item.variant.own_params}
    notes = []
    for node in nodes.values():
        notebook = read_notebook(node.path)
        if notebook.problem is None and not notebook.has_parameters_cell:
            notes.append(f"nbgraph: note: {node.path.name} (node {node.name}) has no cell tagged 'parameters'; "
                         f"its parameters are set above its first cell, so a value its own code assigns wins; "
                         f"tag the cell of defaults 'parameters'{_tag_hint(node.path)}")
    return notes


def _not_installed(spec: Spec, node: NodeSpec, name: str, declared: str | None, known: str) -> SpecError:
    missing = (f"kernel '{name}' is not installed here (installed: {known}; see 'jupyter kernelspec list'); "
               f"fix the name or install that kernel")
    if node.kernel:
        return SpecError.at(spec.file, missing, line=node.line, node=node.name, field="kernel")
    if declared:  # the top-level default
        return SpecError.at(spec.file, f"{missing} (node '{node.name}' uses it)", line=_top_line(spec, "kernel"),
                            field="kernel")
    return SpecError.at(spec.file, f"its notebook {node.path.name} asks for kernel '{name}' (metadata.kernelspec), "
                        f"which is not installed here (installed: {known}); set 'kernel:' for this node "
                        f"or install that kernel", line=node.line, node=node.name, field="kernel")


def _top_line(spec: Spec, key: str) -> int | None:
    """Line of a top-level key (the spec keeps only nodes' lines)."""
    import re

    try:
        lines = spec.file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    pattern = re.compile(rf"^{re.escape(key)}\s*:")
    return next((i for i, line in enumerate(lines, 1) if pattern.match(line)), None)
