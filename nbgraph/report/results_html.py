"""The report's results: a table sortable by any column, and a chart per recorded number.

Sorting is a few lines of inline script (the page stays one self-contained file): a click
on a column's header sorts by it, a second click reverses; numbers sort as numbers (by
``data-value``, the exact value, not its rounded text) and empty cells go last.  The
page's address may name a sort, ``index.html#sort=-score``, to share a view.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable, Sequence

from .results import ResultRow, columns, is_number, table_cells

SORT_SCRIPT = """
function nbgraphSort(table, column, descending) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => {
    const cell = row.cells[column];
    if (!cell || cell.textContent.trim() === "") return null;
    const value = cell.dataset.value;
    return value !== undefined ? parseFloat(value) : cell.textContent.trim().toLowerCase();
  };
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  rows.forEach((row) => body.appendChild(row));
  Array.from(table.tHead.rows[0].cells).forEach((th, i) => {
    th.dataset.sorted = i === column ? (descending ? "descending" : "ascending") : "";
  });
}
document.querySelectorAll("table.sortable").forEach((table) => {
  Array.from(table.tHead.rows[0].cells).forEach((th, i) => {
    th.addEventListener("click", () => nbgraphSort(table, i, th.dataset.sorted === "ascending"));
  });
});
const wanted = /[#&]sort=(-?)([^&]+)/.exec(decodeURIComponent(location.hash));
if (wanted) {
  const table = document.getElementById("results");
  const names = table ? Array.from(table.tHead.rows[0].cells).map((th) => th.dataset.name) : [];
  if (names.includes(wanted[2])) nbgraphSort(table, names.indexOf(wanted[2]), wanted[1] === "-");
}
"""

STYLE = """
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-sorted="ascending"]::after { content: " \\25B2"; font-size: 10px; }
table.sortable th[data-sorted="descending"]::after { content: " \\25BC"; font-size: 10px; }
.chart { max-width: 100%; height: auto; border: 1px solid #ddd; border-radius: 6px; margin: .5rem 0; }
"""


def results_section(rows: Sequence[ResultRow], cell: Callable[[ResultRow, int, str], str],
                    charts: dict[str, str]) -> str:
    """The table (``cell(row, column, text)`` renders the first two columns) and the charts' images."""
    if not any(r.results for r in rows):
        return ('<h2>Results</h2><p id="results">No values recorded yet: call '
                '<code>nbgraph.record("name", value)</code> in a notebook.</p>')
    header, body = table_cells(rows)
    params, values_named = columns(rows)
    names = ["name", "status", *params, *(f"result:{v}" if v in params else v for v in values_named)]
    lines = ['<h2>Results</h2><p class="meta">Click a column to sort by it.</p>',
             '<table id="results" class="sortable"><thead><tr>']
    lines += [f'<th data-name="{html.escape(n)}">{html.escape(h)}</th>' for n, h in zip(names, header)]
    lines.append("</tr></thead><tbody>")
    for row, cells in zip(rows, body):
        values = [*(row.params.get(p) for p in params), *(row.values().get(v) for v in values_named)]
        tds = [cell(row, 0, cells[0]), cell(row, 1, cells[1])]
        tds += [_td(text, value) for text, value in zip(cells[2:], values)]
        lines.append(f'<tr data-variant="{html.escape(row.name)}">{"".join(tds)}</tr>')
    lines.append("</tbody></table>")
    if charts:
        lines.append('<h2>Charts</h2><div id="charts">')
        lines += [f'<img class="chart" data-metric="{html.escape(metric)}" src="{html.escape(src)}" '
                  f'alt="{html.escape(metric)} across the variants">' for metric, src in charts.items()]
        lines.append("</div>")
    lines.append(f"<script>{SORT_SCRIPT}</script>")
    return "\n".join(lines)


def _td(text: str, value: object) -> str:
    if is_number(value):
        return f'<td class="num" data-value="{float(value)!r}">{html.escape(text)}</td>'
    return f"<td>{html.escape(text)}</td>"


def chart_targets(rows: Sequence[ResultRow], folder: Path) -> dict[str, Path]:
    """Where the report puts a chart of each number the variants recorded themselves."""
    from ..names import chart_file
    from .charts import numeric_metrics

    return {metric: folder / chart_file(metric, "svg") for metric in numeric_metrics(rows, own=True)}


def write_charts(rows: Sequence[ResultRow], targets: dict[str, Path]) -> dict[str, Path]:
    """The charts that could be drawn (none without matplotlib)."""
    try:
        from .charts import draw_chart
    except ImportError:
        return {}
    from .plot import save_figure

    written = {}
    for metric, path in targets.items():
        try:
            figure = draw_chart([r for r in rows if metric in r.results], metric)
        except ImportError:
            return {}
        path.parent.mkdir(parents=True, exist_ok=True)
        save_figure(figure, path, "svg")
        written[metric] = path
    return written
