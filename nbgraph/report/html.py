"""``nbgraph report``: a static HTML page to look at a whole study in a browser.

``<out>/index.html`` shows the graph picture, the results table and every variant's
status, each linking to its executed notebook rendered to HTML with nbconvert under
``<out>/notebooks/``.  Everything is relative links and inline CSS, so the folder can be
zipped, copied or served as is.  Notebooks are rendered again only when they changed.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PlotError
from ..fsutil import atomic_write_text
from ..names import REPORT_DIR
from ..plan import Plan
from ..records import FAILED, PENDING, SKIPPED, SUCCEEDED
from .plot import COLORS, summarize, write_image
from .results import result_rows, table_cells


@dataclass
class Report:
    index: Path
    graph: Path | None
    notebooks: dict[str, Path]


def write_report(plan: Plan, out_dir: Path | None = None) -> Report:
    """Write the page and the rendered notebooks; returns where they are."""
    out = Path(out_dir) if out_dir is not None else plan.spec.build_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    graph: Path | None = out / "graph.svg"
    try:
        write_image(summarize(plan), graph, "svg", title=plan.spec.file.name)
    except PlotError:
        graph = None
    notebooks = render_notebooks(plan, out / "notebooks")
    page = _page(plan, out, graph, notebooks)
    index = out / "index.html"
    atomic_write_text(index, page)
    return Report(index=index, graph=graph, notebooks=notebooks)


def render_notebooks(plan: Plan, folder: Path) -> dict[str, Path]:
    """Executed notebook -> HTML for every variant that has one (skipping those already current)."""
    exporter = None
    done: dict[str, Path] = {}
    for item in plan.items:
        record = item.record
        if record is None or not record.output or not Path(record.output).is_file():
            continue
        source = Path(record.output)
        target = folder / item.variant.node / f"{item.variant.slug}.html"
        if not target.exists() or target.stat().st_mtime_ns < source.stat().st_mtime_ns:
            if exporter is None:
                exporter = _exporter()
            body, _ = exporter.from_filename(str(source))
            atomic_write_text(target, body)
        done[item.variant.name] = target
    keep = set(done.values())
    for old in folder.glob("*/*.html") if folder.is_dir() else ():
        if old not in keep:  # a variant that is no longer in the graph
            old.unlink()
    return done


def _exporter():
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    exporter.exclude_input_prompt = False
    return exporter


_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1d1d1d;
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #666; margin-top: 0; }
.graph { max-width: 100%; max-height: 70vh; height: auto; border: 1px solid #ddd; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #f6f6f6; position: sticky; top: 0; }
td.num { text-align: right; }
.status { display: inline-block; padding: 0 .45rem; border-radius: 3px; border: 1px solid; font-size: 12px; }
.reason { color: #666; font-size: 12px; } .error { color: #b00020; font-size: 12px; }
"""


def _page(plan: Plan, out: Path, graph: Path | None, notebooks: dict[str, Path]) -> str:
    spec = plan.spec
    items = plan.items
    counts = {s: 0 for s in (SUCCEEDED, FAILED, SKIPPED, PENDING)}
    for item in items:
        counts[item.record.status if item.record else PENDING] += 1
    stale = sum(item.decision.stale for item in items)
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>nbgraph report: {e(spec.file.name)}</title>", f"<style>{_STYLE}</style></head><body>",
        f"<h1>nbgraph report: {e(spec.file.name)}</h1>",
        f'<p class="meta" id="summary">{len(items)} variants: {counts[SUCCEEDED]} succeeded, {counts[FAILED]} failed, '
        f"{counts[SKIPPED]} skipped, {counts[PENDING]} never ran; {stale} would run next time. "
        f"Written {e(time.strftime('%Y-%m-%d %H:%M:%S'))}.</p>",
    ]
    if graph is not None:
        parts.append(f'<h2>Graph</h2><img class="graph" id="graph" src="{e(_rel(graph, out))}" alt="notebook graph">')
    else:
        parts.append("<h2>Graph</h2><p>The picture needs matplotlib: <code>pip install 'nbgraph[plot]'</code>.</p>")
    parts.append(_results_section(plan, out, notebooks))
    parts.append(_variants_section(plan, out, notebooks))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _link(name: str, out: Path, notebooks: dict[str, Path]) -> str:
    target = notebooks.get(name)
    if target is None:
        return html.escape(name)
    return f'<a href="{html.escape(_rel(target, out))}">{html.escape(name)}</a>'


def _badge(status: str) -> str:
    fill, edge = COLORS.get(status, COLORS[PENDING])
    return f'<span class="status" style="background:{fill};border-color:{edge}">{html.escape(status)}</span>'


def _results_section(plan: Plan, out: Path, notebooks: dict[str, Path]) -> str:
    rows = result_rows(plan)
    if not any(r.results for r in rows):
        return ('<h2>Results</h2><p id="results">No values recorded yet: call '
                '<code>nbgraph.record("name", value)</code> in a notebook.</p>')
    header, body = table_cells(rows)
    lines = ['<h2>Results</h2><table id="results"><thead><tr>']
    lines += [f"<th>{html.escape(h)}</th>" for h in header]
    lines.append("</tr></thead><tbody>")
    for row, cells in zip(rows, body):
        tds = [f"<td>{_link(row.name, out, notebooks)}</td>", f"<td>{_badge(row.status)}</td>"]
        tds += [f'<td{" class=num" if _is_number(c) else ""}>{html.escape(c)}</td>' for c in cells[2:]]
        lines.append(f'<tr data-variant="{html.escape(row.name)}">{"".join(tds)}</tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _variants_section(plan: Plan, out: Path, notebooks: dict[str, Path]) -> str:
    lines = ['<h2>Variants</h2><table id="variants"><thead><tr><th>variant</th><th>status</th>'
             "<th>time</th><th>next run</th></tr></thead><tbody>"]
    for item in plan.items:
        record = item.record
        status = record.status if record else PENDING
        duration = f"{record.duration:.1f} s" if record and record.duration is not None else ""
        nxt = (f'<span class="reason">runs: {html.escape(item.decision.reason)}</span>' if item.decision.stale
               else '<span class="reason">up to date</span>')
        error = f'<div class="error">{html.escape(record.error)}</div>' if record and record.error else ""
        lines.append(f'<tr data-variant="{html.escape(item.variant.name)}" data-status="{status}">'
                     f"<td>{_link(item.variant.name, out, notebooks)}{error}</td><td>{_badge(status)}</td>"
                     f'<td class="num">{duration}</td><td>{nxt}</td></tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _rel(path: Path, start: Path) -> str:
    import os

    from urllib.parse import quote

    return quote(Path(os.path.relpath(path, start)).as_posix(), safe="/=,+")  # folder names hold '%' (a%2Fb)


def describe(report: Report) -> dict[str, Any]:
    return {"index": str(report.index), "graph": str(report.graph) if report.graph else None,
            "notebooks": len(report.notebooks)}
