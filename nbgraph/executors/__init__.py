"""Where jobs run.  ``base.Executor`` is the contract; ``local`` runs on this machine."""

from .base import Executor, RunInfo
from .local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "RunInfo"]
