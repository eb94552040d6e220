"""Driving kernels: ``run`` executes a variant with papermill, with cells that
:mod:`nbgraph.kernelcode` writes; what those cells call *inside* the kernel lives apart,
in :mod:`nbgraph.notebook`."""

from ..notebook import UNDER_RUN_ENV

__all__ = ["UNDER_RUN_ENV"]
