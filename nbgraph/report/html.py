"""``nbgraph report``: a static HTML page to look at a whole study in a browser.

``<out>/index.html`` shows the graph picture, the results table (sortable) with a chart per
recorded number (``<out>/charts/``), and every variant's
status, each linking to its executed notebook rendered to HTML with nbconvert under
``<out>/notebooks/``.  Everything is relative links and inline CSS, so the folder can be
zipped, copied or served as is.  Notebooks are rendered again only when they changed.

The folder may hold other files: a report removes only what an earlier report wrote there,
as listed in ``<out>/.nbgraph-report.json`` (written atomically, before and after the
report's own files, so it always covers them).  A folder with files but no such list is
refused, unless ``force``: the report then replaces files of its names, and removes nothing.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PlotError
from ..extras import install_hint
from ..fsutil import atomic_write_json, atomic_write_text, make_dirs, read_json
from ..names import REPORT_DIR
from ..plan import Plan
from ..build.records import FAILED, PENDING, SKIPPED, SUCCEEDED
from .plot import COLORS, summarize, write_image
from .results import ResultRow, result_rows
from .results_html import STYLE as RESULTS_STYLE, chart_targets, results_section, write_charts


@dataclass
class Report:
    index: Path
    graph: Path | None
    notebooks: dict[str, Path]
    #: where teammates find the page when the build location is remote (its URL), else None
    published: str | None = None


#: the files an earlier report wrote into its folder, relative to it
WRITTEN = ".nbgraph-report.json"


def write_report(plan: Plan, out_dir: Path | None = None, *, force: bool = False) -> Report:
    """Write the page and the rendered notebooks; returns where they are."""
    if all(item.record is None for item in plan.items):
        spec = plan.spec.file.name
        raise PlotError(f"nbgraph report: nothing to report: no variant of {spec} has run yet; "
                        f"run nbgraph run {spec} first", path=str(plan.spec.file))
    out = Path(out_dir) if out_dir is not None else plan.spec.build_dir / REPORT_DIR
    earlier = earlier_report(out, force)
    try:
        make_dirs(out)
    except OSError as e:
        raise PlotError(f"{out}: cannot create the report's folder ({e.strerror or e}); choose another -o",
                        path=str(out)) from None
    graph: Path | None = out / "graph.svg"
    index = out / "index.html"
    targets = notebook_targets(plan, out / "notebooks")
    rows = result_rows(plan)
    chart_files = chart_targets(rows, out / "charts")
    ours = {_rel(p, out) for p in (index, graph, *targets.values(), *chart_files.values())}
    _write_list(out, plan, earlier | ours)  # before anything: a crash leaves nothing unlisted
    try:
        write_image(summarize(plan), graph, "svg", title=plan.spec.file.name)
    except PlotError:
        graph = None
    notebooks = render_notebooks(plan, targets, fresh={t for t in targets.values() if _rel(t, out) not in earlier})
    charts = write_charts(rows, chart_files)
    atomic_write_text(index, _page(plan, out, graph, notebooks, rows, charts))
    written = {_rel(p, out) for p in (index, *notebooks.values(), *charts.values())} | \
        ({_rel(graph, out)} if graph else set())
    for rel in sorted(earlier - written):  # a variant no longer in the graph, a picture not made
        _remove_written(out, rel)
    _write_list(out, plan, written)
    published = None
    if out_dir is None and plan.spec.build_url:
        published = _publish(plan, out, written, earlier - written)
    return Report(index=index, graph=graph, notebooks=notebooks, published=published)


def _publish(plan: Plan, out: Path, written: set[str], gone: set[str]) -> str:
    """Put the page at the remote build location (where teammates look), the list of its files last."""
    from ..build.location import open_store

    store = open_store(plan.spec.build_location, plan.spec.storage_options, root=plan.spec.build_dir)
    for rel in sorted(gone):
        store.remove(store.ref(out / rel))
    for rel in sorted(written):
        store.publish(out / rel)
    store.publish(out / WRITTEN)
    return store.ref(out / "index.html")


def earlier_report(out: Path, force: bool = False) -> set[str]:
    """What an earlier report wrote into ``out`` (nothing for a new or empty folder); a folder
    with files but no list of them is refused unless ``force``."""
    if not out.exists():
        return set()
    if not out.is_dir():
        raise PlotError(f"{out}: is a file, not a folder; choose another -o for the report", path=str(out))
    listed = read_json(out / WRITTEN)
    if isinstance(listed, dict) and isinstance(listed.get("files"), list):
        return {f for f in listed["files"] if isinstance(f, str) and _inside(out, f)}
    if force or not any(out.iterdir()):
        return set()
    raise PlotError(f"{out}: holds files that no nbgraph report wrote (it has no {WRITTEN}); choose a new or "
                    "empty folder, or pass --force to write the report into it (files of the report's names are "
                    "replaced, nothing is removed)", path=str(out))


def notebook_targets(plan: Plan, folder: Path) -> dict[str, Path]:
    """Variant name -> where its executed notebook is rendered, for every variant that has one."""
    targets: dict[str, Path] = {}
    for item in plan.items:
        record = item.record
        if record is not None and record.output and Path(record.output).is_file():
            targets[item.variant.name] = folder / item.variant.node / f"{item.variant.slug}.html"
    return targets


def render_notebooks(plan: Plan, targets: dict[str, Path], fresh: set[Path] = frozenset()) -> dict[str, Path]:
    """Executed notebook -> HTML for every target, skipping those already current (``fresh``
    ones, which an earlier report did not write, are always rendered)."""
    exporter = None
    for item in plan.items:
        target = targets.get(item.variant.name)
        if target is None:
            continue
        source = Path(item.record.output)
        if target in fresh or not target.exists() or target.stat().st_mtime_ns < source.stat().st_mtime_ns:
            if exporter is None:
                exporter = _exporter()
            body, _ = exporter.from_filename(str(source))
            atomic_write_text(target, body)
    return dict(targets)


def _write_list(out: Path, plan: Plan, files: set[str]) -> None:
    atomic_write_json(out / WRITTEN, {"written_by": "nbgraph report", "spec": str(plan.spec.file),
                                      "files": sorted(files)})


def _inside(out: Path, rel: str) -> bool:
    """A listed name is only ever a plain relative path inside ``out`` (never ``..``, never absolute)."""
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts and rel != WRITTEN


def _remove_written(out: Path, rel: str) -> None:
    """Delete one file an earlier report wrote, and the folders under ``out`` it leaves empty."""
    path = out / rel
    try:
        path.parent.resolve().relative_to(out.resolve())
    except (OSError, ValueError):
        return  # a folder replaced by a link out of the report: not followed
    if path.is_symlink() or path.is_file():
        path.unlink()
    folder = path.parent
    while folder != out and folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


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


def _page(plan: Plan, out: Path, graph: Path | None, notebooks: dict[str, Path], rows: list[ResultRow],
          charts: dict[str, Path]) -> str:
    spec = plan.spec
    items = plan.items
    counts = {s: 0 for s in (SUCCEEDED, FAILED, SKIPPED, PENDING)}
    for item in items:
        counts[item.record.status if item.record else PENDING] += 1
    stale = sum(item.decision.stale for item in items)
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>nbgraph report: {e(spec.file.name)}</title>", f"<style>{_STYLE}{RESULTS_STYLE}</style></head><body>",
        f"<h1>nbgraph report: {e(spec.file.name)}</h1>",
        f'<p class="meta" id="summary">{len(items)} variants: {counts[SUCCEEDED]} succeeded, {counts[FAILED]} failed, '
        f"{counts[SKIPPED]} skipped, {counts[PENDING]} never ran; {stale} would run next time. "
        f"Written {e(time.strftime('%Y-%m-%d %H:%M:%S'))}.</p>",
    ]
    if graph is not None:
        parts.append(f'<h2>Graph</h2><img class="graph" id="graph" src="{e(_rel(graph, out))}" alt="notebook graph">')
    else:
        parts.append(f"<h2>Graph</h2><p>The picture needs matplotlib: <code>{e(install_hint('plot'))}</code>.</p>")
    def cell(row: ResultRow, column: int, text: str) -> str:
        return f"<td>{_link(row.name, out, notebooks) if column == 0 else _badge(row.status)}</td>"

    parts.append(results_section(rows, cell, {m: _rel(p, out) for m, p in charts.items()}))
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
