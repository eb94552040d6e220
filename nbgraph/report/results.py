"""One row per variant: its parameters, the values its notebook recorded, and its ancestors'.

The rows come from the variants' records (the commit point of a run), so ``nbgraph
results`` shows what the last runs produced, and the status says whether a row is
current.  A study often records its metrics at different levels (rows loaded in ``load``,
a score in ``train``), so a row also carries what its ancestors recorded, named
``node.name`` (``inherited``).  Rows render as a terminal table, CSV, JSON or a table for
Python (:func:`results`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..errors import SelectionError
from ..names import format_value
from ..plan import Plan
from ..build.records import PENDING
from .jsonout import dumps


@dataclass
class ResultRow:
    name: str
    node: str
    status: str
    stale: bool
    params: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    #: what its ancestors recorded, as ``node.name`` (the nearest ancestor first)
    inherited: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "node": self.node, "status": self.status, "stale": self.stale,
                "params": self.params, "results": self.results, "output": self.output, "inherited": self.inherited}

    def values(self) -> dict[str, Any]:
        """Its own results and its ancestors', one mapping (own names win)."""
        return {**self.inherited, **self.results}


def result_rows(plan: Plan, *, nodes: Iterable[str] = (), every: bool = False) -> list[ResultRow]:
    """Rows of the variants of ``nodes`` (default: all); without ``every``, only variants that
    recorded something, unless none did."""
    wanted = set(nodes)
    for name in wanted:
        if name not in plan.spec.nodes:
            raise SelectionError(plan.spec.no_such_node(name, "--node"), node=name)
    rows = []
    for item in plan.items:
        if wanted and item.variant.node not in wanted:
            continue
        record = item.record
        rows.append(ResultRow(
            name=item.variant.name, node=item.variant.node,
            status=record.status if record else PENDING, stale=item.decision.stale,
            params=dict(item.variant.params), results=dict(record.results) if record else {},
            output=record.output if record else None, inherited=_ancestors_results(plan, item.variant.name)))
    if not every and any(r.results for r in rows):
        rows = [r for r in rows if r.results]
    return rows


def _ancestors_results(plan: Plan, name: str) -> dict[str, Any]:
    """``node.result`` of every ancestor variant that recorded something, nearest first."""
    found: dict[str, Any] = {}
    seen = {name}
    queue = list(plan.by_name[name].variant.parents)
    while queue:
        parent = queue.pop(0)
        if parent in seen or parent not in plan.by_name:
            continue
        seen.add(parent)
        item = plan.by_name[parent]
        for key, value in (item.record.results if item.record else {}).items():
            found.setdefault(f"{item.variant.node}.{key}", value)
        queue.extend(item.variant.parents)
    return found


def columns(rows: Sequence[ResultRow]) -> tuple[list[str], list[str]]:
    """Parameter names and value names (own results, then the ancestors'), in order of first appearance."""
    params: dict[str, None] = {}
    results: dict[str, None] = {}
    inherited: dict[str, None] = {}
    for row in rows:
        params.update(dict.fromkeys(row.params))
        results.update(dict.fromkeys(row.results))
        inherited.update(dict.fromkeys(row.inherited))
    return list(params), list(results) + [k for k in inherited if k not in results]


def sort_rows(rows: list[ResultRow], key: str) -> list[ResultRow]:
    """Sort by a result, a parameter, ``name`` or ``status``; ``-KEY`` sorts descending.

    Rows without the value go last either way.
    """
    descending = key.startswith("-")
    name = key[1:] if descending else key
    params, results = columns(rows)
    if name not in (*results, *params, "name", "status", "node"):
        known = ", ".join([*results, *params, "name", "status"])
        raise SelectionError(f"--sort {key}: no recorded value or parameter named {name!r}; known: {known}")

    def value(row: ResultRow) -> Any:
        if name in row.values():
            return row.values()[name]
        if name in row.params:
            return row.params[name]
        return getattr(row, name, None) if name in ("name", "status", "node") else None

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    present.sort(key=lambda r: _sortable(value(r)), reverse=descending)
    return present + missing


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, json.dumps(value, sort_keys=True) if not isinstance(value, str) else value)


def result_text(value: Any) -> str:
    """A recorded result in a table cell (floats to 4 significant digits); parameters are written as in names."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _header(params: list[str], results: list[str]) -> list[str]:
    return ["variant", "status", *params, *(f"result:{r}" if r in params else r for r in results)]


def to_csv(rows: Sequence[ResultRow]) -> str:
    params, results = columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_header(params, results))
    for row in rows:
        cells = [row.name, row.status, *(row.params.get(p) for p in params), *(row.values().get(r) for r in results)]
        writer.writerow(["" if c is None else c if isinstance(c, (str, int, float)) else json.dumps(c) for c in cells])
    return out.getvalue()


def to_json(rows: Sequence[ResultRow]) -> str:
    """Strict JSON: a NaN or infinite parameter is written as a string (see :mod:`.jsonout`)."""
    return dumps([r.to_json() for r in rows])


def table_cells(rows: Sequence[ResultRow]) -> tuple[list[str], list[list[str]]]:
    """Header and text cells, shared by the terminal table and the HTML report."""
    params, results = columns(rows)
    fmt = {r: column_format([row.values().get(r) for row in rows]) for r in results}
    body = [[row.name, row.status + (" (stale)" if row.stale and row.status != PENDING else ""),
             *("" if p not in row.params else format_value(row.params[p]) for p in params),
             *(fmt[r](row.values().get(r)) for r in results)] for row in rows]
    return _header(params, results), body


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool): what a chart or a numeric column holds."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and \
        value not in (float("inf"), float("-inf"))


def column_format(values: list[Any]):
    """One number format per column: its numbers with the same decimals (at most 4 significant),
    ints among floats included; a column spanning wide magnitudes in one notation (``.4g``)."""
    numbers = [v for v in values if is_number(v)]
    if not any(isinstance(v, float) for v in numbers):
        return result_text
    if any(abs(v) >= 1e6 or (v and abs(v) < 1e-3) for v in numbers):
        return lambda value: f"{value:.4g}" if is_number(value) else result_text(value)
    decimals = 0
    for v in numbers:
        text = f"{float(v):.4g}"
        if "." in text:
            decimals = max(decimals, len(text.split(".")[1]))

    def fmt(value: Any) -> str:
        return f"{value:.{decimals}f}" if is_number(value) else result_text(value)

    return fmt


def print_table(console, rows: Sequence[ResultRow]) -> None:
    from rich.table import Table
    from rich.text import Text

    header, body = table_cells(rows)
    params, _ = columns(rows)
    if not console.is_terminal:  # a pipe or file: print the table at its natural width
        console.width = 100_000
    table = Table(show_header=True, header_style="bold", box=None)
    for i, name in enumerate(header):
        table.add_column(name, no_wrap=i > 0, overflow="fold", justify="right" if i >= 2 + len(params) else "left")
    for cells in body:
        table.add_row(*(Text(c) for c in cells))
    console.print(table)
    console.print(f"{len(rows)} variants", highlight=False)
