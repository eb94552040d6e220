"""Faults of a kernel run, as the one line a user reads in the run summary.

A cell that runs past ``timeout`` and a kernel process that dies (segfault, OOM killer,
``os._exit``) end a variant, not the run.  The message names the cell the way the user
sees it: its position in their own notebook (nbgraph's injected cells and papermill's
parameters cell are not counted) and its first line of code.
"""

from __future__ import annotations

import signal
from typing import Any

INJECTED_TAGS = ("nbgraph-injected", "injected-parameters")


class KernelFault(Exception):
    """A variant's kernel timed out or died; ``str()`` is the summary line."""

    def __init__(self, message: str, kind: str, cell: int | None = None, line: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.cell = cell
        self.line = line

    def __reduce__(self):
        return (KernelFault, (str(self), self.kind, self.cell))


def injected(cell: Any) -> bool:
    """Whether ``cell`` is nbgraph's (or the parameters papermill's way), not the notebook's own."""
    return any(t in INJECTED_TAGS for t in cell.get("metadata", {}).get("tags", []))


def user_cell_number(cells: list[Any], index: int) -> int | None:
    """1-based position of ``cells[index]`` in the user's notebook, or None for an injected cell."""
    if index < 0 or index >= len(cells) or injected(cells[index]):
        return None
    return sum(1 for c in cells[:index] if not injected(c)) + 1


def _where(cells: list[Any], index: int | None) -> tuple[str, int | None]:
    if index is None:
        return "while starting", None
    number = user_cell_number(cells, index)
    cell = cells[index]
    tags = cell.get("metadata", {}).get("tags", [])
    if number is None:
        what = "loading the parents' snapshots" if "nbgraph-inherit" in tags else (
            "saving the snapshot" if "nbgraph-snapshot" in tags else "the injected parameters")
        return f"in nbgraph's cell {what}", None
    first = _first_line(cell)
    if len(first) > 60:
        first = first[:57] + "..."
    return f"in cell {number}" + (f" ({first})" if first else ""), number


def _first_line(cell: Any) -> str:
    return next((line.strip() for line in str(cell.get("source", "")).splitlines() if line.strip()), "")


def where_cell(cells: list[Any], index: int | None) -> tuple[int | None, str | None]:
    """The cell as the notebook counts its own (None for nbgraph's cells), and its first line."""
    if index is None or index < 0 or index >= len(cells):
        return None, None
    number = user_cell_number(cells, index)
    return number, (_first_line(cells[index]) or None) if number is not None else None


def raised_where(cells: list[Any], index: int | None) -> str:
    """Where a cell's exception came from, counted like timeouts: ``in cell 4 (raise ...)``."""
    return _where(cells, index)[0]


def timed_out(cells: list[Any], index: int | None, timeout: float | None) -> KernelFault:
    where, number = _where(cells, index)
    limit = f" after {timeout:g}s" if timeout else ""
    return KernelFault(f"timed out {where}{limit}; the kernel was killed (raise 'timeout' for this node if it needs longer)",
                       "timeout", number, where_cell(cells, index)[1])


def died(cells: list[Any], index: int | None, returncode: int | None) -> KernelFault:
    where, number = _where(cells, index)
    return KernelFault(f"kernel died {where}{describe_exit(returncode)}; see the variant's log", "died", number,
                       where_cell(cells, index)[1])


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return ""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = ", out of memory?" if name == "SIGKILL" else ""
        return f" (killed by {name}{hint})"
    return f" (exit code {returncode})"
