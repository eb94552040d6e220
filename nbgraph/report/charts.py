"""A chart of one recorded number across the variants: ``nbgraph results --plot`` and the report.

One horizontal bar per variant, best first (largest value at the top), so 50 or 500
variants stay readable: the figure grows with the rows, each label is the variant's
parameters, and the bars are coloured by the grid parameter that tells the variants
apart most (up to :data:`MAX_COLOURS` values; beyond that, one colour).  Values carry the
column's one number format.  PNG or SVG, written as ``nbgraph plot`` writes its picture
(atomically, marked, replacing only a file nbgraph wrote unless ``force``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import PlotError
from ..names import CHARTS_DIR, chart_file, format_value
from .plot import check_replace, save_figure
from .results import ResultRow, column_format, columns, is_number

MAX_COLOURS = 10
_PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
            "#9c755f", "#bab0ac"]


def numeric_metrics(rows: Sequence[ResultRow], *, own: bool = False) -> list[str]:
    """Value names that are a number in at least one row and never anything else; with ``own``,
    only values the rows' notebooks recorded themselves (not their ancestors')."""
    _, names = columns(rows)
    found = []
    for name in names:
        values = [(row.results if own else row.values()).get(name) for row in rows]
        values = [v for v in values if v is not None]
        if values and all(is_number(v) for v in values):
            found.append(name)
    return found


def chart_path(build_dir: Path, metric: str, fmt: str = "png") -> Path:
    """The default file of a metric's chart: ``<build_dir>/charts/<metric>.<fmt>`` (the name folder-safe)."""
    return build_dir / CHARTS_DIR / chart_file(metric, fmt)


def write_chart(rows: Sequence[ResultRow], metric: str, path: Path, *, force: bool = False) -> Path:
    """The chart of ``metric`` as PNG or SVG (by ``path``'s extension)."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise PlotError(f"{path}: a chart is .png or .svg; name it {path.stem}.png", path=str(path))
    known = numeric_metrics(rows)
    if metric not in known:
        raise PlotError(f"--plot {metric}: no variant recorded a number named {metric!r}; "
                        f"numbers recorded: {', '.join(known) or 'none'}", path=str(path))
    check_replace(path, fmt, force)
    try:
        figure = draw_chart(rows, metric)
    except ImportError:
        from ..extras import install_hint

        raise PlotError(f"a chart needs matplotlib; install it with {install_hint('plot')}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, path, fmt)
    return path


def colour_by(rows: Sequence[ResultRow]) -> str | None:
    """The parameter whose values tell the rows apart most, within :data:`MAX_COLOURS` values."""
    params, _ = columns(rows)
    best, best_count = None, 1
    for name in params:
        count = len({format_value(row.params[name]) for row in rows if name in row.params})
        if best_count < count <= MAX_COLOURS:
            best, best_count = name, count
    return best


def draw_chart(rows: Sequence[ResultRow], metric: str) -> Any:
    """A matplotlib Figure (no pyplot, so no global backend state)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    shown = sorted((row for row in rows if is_number(row.values().get(metric))),
                   key=lambda row: row.values()[metric])
    fmt = column_format([row.values()[metric] for row in shown])
    group = colour_by(shown)
    in_order = [row for row in rows if row in shown]  # colours in the study's order, not the values'
    groups = list(dict.fromkeys(format_value(row.params[group]) for row in in_order if group in row.params)) \
        if group else []
    colours = {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(groups)}
    fig = Figure(figsize=(8.5, max(2.2, 0.26 * len(shown) + 1.3)))
    ax = fig.add_subplot()
    values = [row.values()[metric] for row in shown]
    bar_colours = [colours.get(format_value(row.params[group]), "#9e9e9e") if group and group in row.params
                   else _PALETTE[0] for row in shown]
    ax.barh(range(len(shown)), values, color=bar_colours, height=0.7)
    ax.set_yticks(range(len(shown)), [_label(row) for row in shown], fontsize=8)
    for y, value in enumerate(values):
        ax.text(value, y, f" {fmt(value)}", va="center", ha="left" if value >= 0 else "right", fontsize=7.5)
    ax.set_xlabel(metric)
    ax.set_title(f"{metric} across {len(shown)} variants", fontsize=10, loc="left")
    ax.margins(x=0.12, y=0.01)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if group:
        ax.legend(handles=[Patch(color=colours[g], label=f"{group}={g}") for g in groups], fontsize=8,
                  loc="lower right", frameon=False)
    fig.tight_layout()
    return fig


def _label(row: ResultRow) -> str:
    """The variant's name, cut to fit beside its bar."""
    return row.name if len(row.name) <= 48 else row.name[:47] + "…"
