"""Terminal output: live progress while running, the summary after, the status table.

On a terminal, a rich progress bar with the variants in flight; elsewhere (CI, pipes,
files), one plain line per event so logs stay readable.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Iterator

from rich.console import Console
from rich.table import Table
from rich.markup import escape
from rich.text import Text

from ..plan import Planned
from ..build.records import FAILED, SKIPPED, SUCCEEDED, Record
from ..states import Status

_MARK = {SUCCEEDED: "[green]ok[/]", FAILED: "[red]FAILED[/]", SKIPPED: "[yellow]skipped[/]"}


def _why(record: Record) -> str:
    """A failure's line, or why a variant was skipped (``parent X failed``)."""
    failure = record.why_not
    return failure.message if failure is not None else ""


class PlainEvents:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()

    def planned(self, total: int) -> None:
        self.console.print(f"{total} variant(s) to run", markup=False)

    def started(self, item: Planned) -> None:
        with self._lock:
            self.console.print(f"start     {item.variant.name}  ({item.decision.reason})", markup=False)

    def finished(self, item: Planned, record: Record) -> None:
        line = f"{record.status:<9} {record.name}"
        if record.duration is not None and record.status != SKIPPED:
            line += f"  {record.duration:.1f}s"
        if record.error and record.status in (FAILED, SKIPPED):
            line += f"  {_why(record)}"
        with self._lock:
            self.console.print(line, markup=False)


class LiveEvents:
    """A rich progress bar; the variants in flight are listed under it."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Column

        self.console = console
        # counts first: the list of running variants is long and is the part that gets cut
        self.progress = Progress(BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                                 console=console, transient=False, expand=True)
        self.task = self.progress.add_task("waiting", total=None)
        self.active: dict[str, float] = {}
        self._lock = threading.Lock()

    def planned(self, total: int) -> None:
        self.progress.update(self.task, total=total, visible=total > 0)  # nothing to run: no empty bar

    def _describe(self) -> str:
        names = list(self.active)
        shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        if names:
            return escape(f"running {shown}")
        task = self.progress.tasks[self.task]
        return "done" if task.total is not None and task.completed >= task.total else "waiting"

    def started(self, item: Planned) -> None:
        with self._lock:
            self.active[item.variant.name] = time.monotonic()
            self.progress.update(self.task, description=self._describe())

    def finished(self, item: Planned, record: Record) -> None:
        with self._lock:
            self.active.pop(record.name, None)
            self.progress.advance(self.task)
            mark = _MARK.get(record.status, record.status)
            extra = f" {record.duration:.1f}s" if record.duration is not None and record.status != SKIPPED else ""
            if record.status in (FAILED, SKIPPED) and record.error:
                extra += f"  {_why(record)}"
            self.progress.console.print(Text.from_markup(mark) + Text(f" {record.name}{extra}"), highlight=False)
            self.progress.update(self.task, description=self._describe())


@contextlib.contextmanager
def make_events(console: Console) -> Iterator[Any]:
    if console.is_terminal:
        events = LiveEvents(console)
        with events.progress:
            yield events
    else:
        yield PlainEvents(console)


def _where_to_look(result, name: str, record) -> list[str]:
    """The executed notebook and the log of a failed variant, as far as they exist (never ``None``)."""
    from ..kernels.logs import log_path

    item = result.plan.by_name.get(name)
    lines = [f"notebook: {record.output}"] if record.output else []
    log = log_path(record.output) if record.output else (
        log_path(result.plan.layout.output_path(item.variant, item.node.path)) if item is not None else None)
    if log is not None and log.exists():
        lines.append(f"log: {log}")
    return lines


def print_summary(console: Console, result) -> None:
    counts = {k: len(result.names(k)) for k in (SUCCEEDED, FAILED, SKIPPED, Status.UP_TO_DATE)}
    console.print(
        f"\n{counts[SUCCEEDED]} succeeded, {counts[FAILED]} failed, {counts[SKIPPED]} skipped, "
        f"{counts[Status.UP_TO_DATE]} up to date  ({result.wall_time:.1f}s)", highlight=False, markup=False)
    for item in result.attached:
        console.print(f"attached: {item.describe()}", markup=False, highlight=False)
    for name in result.names(FAILED):
        record = result.records[name]
        console.print(f"failed: {name}: {record.error}", markup=False, highlight=False)
        for line in _where_to_look(result, name, record):
            console.print(f"        {line}", markup=False, highlight=False)
    unchanged = {a.variant.name for a in result.attached if not (a.changed or a.first)}
    skips: dict[tuple[str, str, str, str], list[str]] = {}  # one line per node, not per variant
    for name, record in result.records.items():
        if result.outcome.get(name) not in (SUCCEEDED, Status.ATTACHED) or name in unchanged:
            continue  # an attached node whose live state did not change: its lines were said before
        for skip in record.skipped:
            skips.setdefault((record.node, skip["name"], skip["type"], skip["reason"]), []).append(name)
    for (node, var, kind, reason), names in skips.items():
        who = names[0] if len(names) == 1 else f"{node} ({len(names)} variants)"
        console.print(f"not passed down by {who}: {var} ({kind}): {reason}", markup=False, highlight=False)
    _print_rebuilt(console, result)
    for name, record in result.records.items():
        if result.outcome.get(name) not in (SUCCEEDED, Status.ATTACHED):
            continue
        if record.collisions:
            console.print(f"{name}: defined by several parents with different values (later parent wins): {', '.join(record.collisions)}",
                          markup=False, highlight=False)


def _print_rebuilt(console: Console, result) -> None:
    """Per node that ran: what its kernels rebuilt (and the longest it took), what did not arrive and why."""
    rebuilt: dict[str, tuple[dict[str, None], set[str], list[float]]] = {}
    missing: dict[tuple[str, str, str, str], list[str]] = {}
    for name, record in result.records.items():
        if result.outcome.get(name) != SUCCEEDED:
            continue
        if record.rebuilt:
            items, names, took = rebuilt.setdefault(record.node, ({}, set(), []))
            made = [(r, r.get("variant") or r.get("notebook")) for r in record.rebuilt]
            items.update({f"{r['name']} ({r['type']}, from {r.get('cell')} of {by})": None for r, by in made})
            names.add(name)
            took.append(record.rebuild_seconds or 0.0)
        for m in record.not_inherited:
            missing.setdefault((record.node, m["name"], m["type"], m["reason"]), []).append(name)
    for node, (items, names, took) in rebuilt.items():
        who = next(iter(names)) if len(names) == 1 else f"{node} ({len(names)} variants)"
        console.print(f"rebuilt in {who} ({max(took):.3f}s): {', '.join(items)}", markup=False, highlight=False)
    for (node, var, kind, reason), names in missing.items():
        who = names[0] if len(names) == 1 else f"{node} ({len(names)} variants)"
        console.print(f"not inherited by {who}: {var} ({kind}): {reason}", markup=False, highlight=False)


def print_status(console: Console, rows: list[dict[str, Any]]) -> None:
    if not console.is_terminal:  # a pipe or file: one line per variant, whatever its length
        console.width = 100_000
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("variant", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("next run")
    style = {SUCCEEDED: "green", FAILED: "red", SKIPPED: "yellow"}
    for row in rows:
        color = style.get(row["status"], "dim")
        notes = "".join(f"; {note}" for note in row.get("notes", ()))
        table.add_row(Text(row["name"]), Text(row["status"], style=color),
                      Text("up to date" + notes, style="dim") if not row["stale"] else Text(f"runs: {row['reason']}"))
    console.print(table)
    stale = sum(r["stale"] for r in rows)
    console.print(f"{len(rows)} variants, {stale} would run", highlight=False)


class OutputPrinter:
    """``run --log-output``: each variant's output lines, prefixed with its name, as they come.

    Output arrives in arbitrary chunks; only whole lines are printed, so lines of variants
    running at once do not interleave mid-line (a carriage return also ends a line).
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._partial: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def __call__(self, variant: str, stream: str, text: str) -> None:
        with self._lock:
            buffered = self._partial.pop((variant, stream), "") + text.replace("\r\n", "\n").replace("\r", "\n")
            *lines, rest = buffered.split("\n")
            if rest:
                self._partial[(variant, stream)] = rest
            for line in lines:
                self.console.print(f"[{variant}] {line}", markup=False, highlight=False, soft_wrap=True)

    def flush(self) -> None:
        with self._lock:
            for (variant, _), rest in self._partial.items():
                self.console.print(f"[{variant}] {rest}", markup=False, highlight=False, soft_wrap=True)
            self._partial.clear()
