"""What becomes of a variant: its :class:`Status`, and, when it did not succeed, its :class:`Failure`.

Both are plain strings underneath (``Status.SUCCEEDED == "succeeded"``), so records,
``status --json`` and ``results`` keep the words they always had, while the code that
decides and renders compares members instead of spelling words again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class _Word(str, Enum):
    """An enum whose members print, format and serialise as their word."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Status(_Word):
    """Where a variant stands, and how a failure travels through the graph.

    A variant that ``FAILED`` (after its ``retries``) marks each of its descendants in the
    run ``SKIPPED``: they do not run, their records say which parent failed, and their own
    descendants are skipped in turn.  Siblings and other branches go on.  A variant whose
    parents are available (``SUCCEEDED`` in this run, or ``UP_TO_DATE`` with a snapshot)
    is ready.  The last three are what a run did *not* do, and are never written to a
    record: they appear in :attr:`nbgraph.RunResult.outcome` only.
    """

    PENDING = "pending"  #: never ran (no record yet)
    SUCCEEDED = "succeeded"  #: ran; its snapshot (if any) is what its children start from
    FAILED = "failed"  #: ran and failed: see its :class:`Failure`
    SKIPPED = "skipped"  #: not run because a parent failed or never produced a snapshot
    UP_TO_DATE = "up to date"  #: not run: its record still matches what it would run
    NOT_SELECTED = "not selected"  #: outside ``--only``
    ATTACHED = "attached"  #: ``attach: true``: re-snapshotted from its live kernel


class FailureKind(_Word):
    CELL_ERROR = "cell error"  #: a cell raised (``ename``/``evalue`` say what)
    TIMEOUT = "timeout"  #: a cell ran past the node's ``timeout``; the kernel was killed
    KERNEL_DIED = "kernel died"  #: the kernel process ended while a cell ran
    SNAPSHOT_REFUSED = "snapshot refused"  #: a snapshot (its own, or a parent's) failed its checks
    SKIPPED = "skipped"  #: a parent failed or has no snapshot (``parent``)
    INTERRUPTED = "interrupted"  #: the run was stopped (Ctrl-C) while it ran
    COULD_NOT_RUN = "could not run"  #: the notebook, its kernel or the executor failed before or around it


@dataclass(frozen=True)
class Failure:
    """Why a variant did not succeed, field by field; :attr:`line` is the one line users read."""

    kind: FailureKind
    #: the one line of the run summary (for a skip: why, e.g. ``parent load failed``)
    message: str
    node: str = ""
    variant: str = ""
    #: the cell, as the notebook counts its own cells (1-based; None for nbgraph's cells)
    cell: int | None = None
    #: that cell's first line
    cell_line: str | None = None
    ename: str | None = None
    evalue: str | None = None
    #: the executed notebook, where one was written
    notebook: str | None = None
    #: for a skip: the parent that failed or has no snapshot
    parent: str | None = None

    @property
    def line(self) -> str:
        """What ``record.error`` holds: the message, marked ``skipped:`` for a skip."""
        return f"skipped: {self.message}" if self.kind == FailureKind.SKIPPED else self.message

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}

    @classmethod
    def from_json(cls, data: Any) -> "Failure | None":
        if not isinstance(data, dict) or "message" not in data:
            return None
        try:
            kind = FailureKind(data.get("kind"))
        except ValueError:
            kind = FailureKind.COULD_NOT_RUN
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "kind"}
        return cls(kind=kind, **known)

    @classmethod
    def from_line(cls, line: str, *, node: str = "", variant: str = "") -> "Failure":
        """A failure known by its line only (an executor's own error, or a record from before
        failures had fields): a skip is told by its mark, anything else could not run."""
        if line.startswith("skipped: "):
            return cls(FailureKind.SKIPPED, line.removeprefix("skipped: "), node, variant)
        if line.startswith("interrupted"):
            return cls(FailureKind.INTERRUPTED, line, node, variant)
        return cls(FailureKind.COULD_NOT_RUN, line, node, variant)
