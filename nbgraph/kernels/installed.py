"""Is each notebook's kernel installed here?  Checked before anything runs.

A kernel name that jupyter does not know (a typo in ``kernel:``, or a notebook saved in
someone else's conda environment) would otherwise fail every variant of the node one by
one, after its parents ran, with exit code 1 as if a notebook had raised.  It is bad input:
one line naming the node and what to do, exit 2, before the first kernel starts.
"""

from __future__ import annotations

import json
from typing import Iterable

from ..errors import SpecError
from ..spec import NodeSpec, Spec


def notebook_kernel(node: NodeSpec) -> str | None:
    """The kernel name saved in the notebook's metadata, if any."""
    try:
        doc = json.loads(node.path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (doc.get("metadata", {}).get("kernelspec") or {}).get("name")


def runs_here(spec: Spec, executor: object = None) -> bool:
    """Whether kernels start on this machine (the local executor), so that its kernels matter."""
    if executor is None:
        return (spec.executor or "local") == "local"
    return executor == "local" or bool(getattr(executor, "runs_kernels_here", False))


def check_kernels(spec: Spec, nodes: Iterable[NodeSpec]) -> None:
    """Raise :class:`SpecError` for the first node whose kernel is not installed on this machine."""
    from jupyter_client.kernelspec import KernelSpecManager

    installed: set[str] | None = None
    for node in nodes:
        if node.attach:
            continue
        declared = spec.node_kernel(node)
        name = declared or notebook_kernel(node) or "python3"
        if installed is None:
            installed = set(KernelSpecManager().find_kernel_specs())
        if name.lower() in {k.lower() for k in installed}:  # jupyter matches names case-insensitively
            continue
        known = ", ".join(sorted(installed)) or "none"
        missing = (f"kernel '{name}' is not installed here (installed: {known}; see 'jupyter kernelspec list'); "
                   f"fix the name or install that kernel")
        if node.kernel:
            raise SpecError.at(spec.file, missing, line=node.line, node=node.name, field="kernel")
        if declared:  # the top-level default
            raise SpecError.at(spec.file, f"{missing} (node '{node.name}' uses it)", line=_top_line(spec, "kernel"),
                               field="kernel")
        raise SpecError.at(spec.file, f"its notebook {node.path.name} asks for kernel '{name}' (metadata.kernelspec), "
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
