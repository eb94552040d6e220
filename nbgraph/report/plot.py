"""A picture of the notebook graph: one box per node, coloured by its variants' last status.

Drawn with matplotlib (no Graphviz binary needed): nodes are placed in layers by depth,
ordered to keep edges short; each box names the node, its notebook, its grid and its
variant count, with a bar showing how many variants succeeded, failed, were skipped or
never ran.  ``dot`` and ``mermaid`` print the same graph as text for other tools.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PlotError
from ..graph import node_order
from ..names import format_value, plot_file
from ..plan import Plan
from ..build.records import FAILED, PENDING, SKIPPED, SUCCEEDED

FORMATS = ("png", "svg", "dot", "mermaid")

#: fill, edge colour per overall status (colour-blind safe-ish: differ in lightness too)
COLORS = {
    SUCCEEDED: ("#c7e9c0", "#2e7d32"),
    FAILED: ("#f8c4c0", "#c62828"),
    SKIPPED: ("#ffe0a3", "#b26a00"),
    PENDING: ("#e6e6e6", "#707070"),
}
LABELS = {SUCCEEDED: "succeeded", FAILED: "failed", SKIPPED: "skipped (a parent failed)", PENDING: "never ran"}
ORDER = (SUCCEEDED, FAILED, SKIPPED, PENDING)

#: signs every picture nbgraph plot writes, at a fixed place, so that it replaces only its own
#: files: a dot/mermaid comment and an SVG comment on the second line, a PNG ``Software`` text chunk
MARK = "written by nbgraph plot"
_MARK_LINES = {"dot": f"  // {MARK}", "mermaid": f"  %% {MARK}", "svg": f"<!-- {MARK} -->"}


@dataclass
class NodeSummary:
    """What a box shows: a node and the statuses of its variants."""

    name: str
    notebook: str
    grid: list[tuple[str, int]]
    variants: int
    counts: Counter = field(default_factory=Counter)
    stale: int = 0
    parents: tuple[str, ...] = ()
    #: the node's fixed parameters (``params:``): what tells apart two nodes of one notebook
    params: tuple[tuple[str, str], ...] = ()
    #: a list grid: each mapping's text (``model=svm × C (2)``), shown joined by `` | ``
    grid_items: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """The node's colour: any failure wins, then skips, then never-ran, else succeeded."""
        for status in (FAILED, SKIPPED, PENDING):
            if self.counts.get(status):
                return status
        return SUCCEEDED if self.variants else PENDING

    def notebook_text(self) -> str:
        """The notebook and, if any, the fixed parameters: ``model.ipynb  C=1, kernel=rbf``."""
        fixed = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.notebook}  {fixed}" if fixed else self.notebook

    def grid_text(self) -> str:
        if self.grid_items:
            return " | ".join(self.grid_items)
        return " × ".join(f"{k} ({n})" for k, n in self.grid)

    def count_text(self) -> str:
        parts = [f"{self.variants} variant{'s' if self.variants != 1 else ''}"]
        if self.variants and self.counts.get(PENDING) == self.variants:
            return f"{parts[0]} · never ran"
        bad = [f"{self.counts[s]} {w}" for s, w in ((FAILED, "failed"), (SKIPPED, "skipped"), (PENDING, "never ran"))
               if self.counts.get(s)]
        if bad:
            parts.append(", ".join(bad))
        elif self.stale:
            parts.append(f"{self.stale} stale")
        return " · ".join(parts)


def summarize(plan: Plan) -> list[NodeSummary]:
    """One summary per node, in the graph's topological order."""
    spec = plan.spec
    out: dict[str, NodeSummary] = {}
    for name in node_order(spec):
        node = spec.nodes[name]
        try:
            notebook = str(node.path.relative_to(spec.root))
        except ValueError:
            notebook = str(node.path)
        out[name] = NodeSummary(name=name, notebook=notebook, grid=[(k, len(v)) for k, v in node.grid],
                                variants=0, parents=tuple(node.parents), grid_items=_grid_items(node),
                                params=tuple((k, format_value(v)) for k, v in node.params.items()))
    for item in plan.items:
        summary = out[item.variant.node]
        summary.variants += 1
        summary.counts[item.record.status if item.record else PENDING] += 1
        summary.stale += item.decision.stale
    return list(out.values())


def _grid_items(node) -> tuple[str, ...]:
    """A list grid's mappings as text: a parameter with one value shows it (``model=svm``), others their count."""
    if node.grid_list is None:
        return ()
    return tuple(" × ".join(f"{k}={format_value(v[0])}" if len(v) == 1 else f"{k} ({len(v)})" for k, v in block)
                 or "no parameters" for block in node.grid_list)


def to_dot(summaries: list[NodeSummary]) -> str:
    lines = ["digraph nbgraph {", _MARK_LINES["dot"], "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for s in summaries:
        fill, edge = COLORS[s.status]
        label = "\\n".join(filter(None, [s.name, s.notebook_text(), s.grid_text(), s.count_text()]))
        lines.append(f'  "{s.name}" [label="{_dot_escape(label)}", fillcolor="{fill}", color="{edge}"];')
    for s in summaries:
        for p in s.parents:
            lines.append(f'  "{p}" -> "{s.name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace('"', '\\"')


def to_mermaid(summaries: list[NodeSummary]) -> str:
    ids = {s.name: f"n{i}" for i, s in enumerate(summaries)}
    lines = ["flowchart TD", _MARK_LINES["mermaid"]]
    for s in summaries:
        label = "<br/>".join(filter(None, [f"<b>{s.name}</b>", s.notebook_text(), s.grid_text(), s.count_text()]))
        lines.append(f'  {ids[s.name]}["{label.replace(chr(34), "#quot;")}"]:::{s.status}')
    for s in summaries:
        for p in s.parents:
            lines.append(f"  {ids[p]} --> {ids[s.name]}")
    for status, (fill, edge) in COLORS.items():
        lines.append(f"  classDef {status} fill:{fill},stroke:{edge},color:#111")
    return "\n".join(lines) + "\n"


def layers(summaries: list[NodeSummary]) -> list[list[str]]:
    """Nodes by depth (longest path from a root), each layer ordered by its parents' positions."""
    depth: dict[str, int] = {}
    for s in summaries:  # topological order
        depth[s.name] = 1 + max((depth[p] for p in s.parents), default=-1)
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    parents = {s.name: s.parents for s in summaries}
    position: dict[str, float] = {}
    for layer_no in range(len(layers)):
        members = [s.name for s in summaries if depth[s.name] == layer_no]
        first_seen = {n: i for i, n in enumerate(members)}
        members.sort(key=lambda n: (sum(position[p] for p in parents[n]) / len(parents[n]) if parents[n] else 0,
                                    first_seen[n]))
        for i, n in enumerate(members):
            position[n] = i - (len(members) - 1) / 2
        layers[layer_no] = members
    return layers


BOX_W, BOX_H, GAP_X, GAP_Y = 3.2, 1.35, 0.6, 1.0


def draw(summaries: list[NodeSummary], title: str = ""):
    """A matplotlib Figure of the graph (no pyplot, so no global backend state)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch, Rectangle
    except ImportError:
        from ..extras import install_hint

        raise PlotError("nbgraph plot: PNG and SVG need matplotlib; install it with "
                        f"{install_hint('plot')} (or use --format dot / --format mermaid)") from None

    rows = layers(summaries)
    widest = max((len(layer) for layer in rows), default=1)
    width = widest * (BOX_W + GAP_X) + GAP_X
    height = max(len(rows), 1) * (BOX_H + GAP_Y) - GAP_Y + 1.5
    fig = Figure(figsize=(max(width, 7.0), height), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-max(width, 7.0) / 2, max(width, 7.0) / 2)
    ax.set_ylim(-height + 0.45, 0.45)
    ax.axis("off")
    centre: dict[str, tuple[float, float]] = {}
    for row, layer in enumerate(rows):
        y = -row * (BOX_H + GAP_Y) - BOX_H / 2 - 0.35
        for i, name in enumerate(layer):
            x = (i - (len(layer) - 1) / 2) * (BOX_W + GAP_X)
            centre[name] = (x, y)
    for s in summaries:
        for p in s.parents:
            (x0, y0), (x1, y1) = centre[p], centre[s.name]
            ax.add_patch(FancyArrowPatch((x0, y0 - BOX_H / 2), (x1, y1 + BOX_H / 2), arrowstyle="-|>",
                                         mutation_scale=14, color="#555555", lw=1.3, shrinkA=2, shrinkB=3,
                                         connectionstyle="arc3,rad=0.0", zorder=1))
    for s in summaries:
        x, y = centre[s.name]
        fill, edge = COLORS[s.status]
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                    boxstyle="round,pad=0,rounding_size=0.12", fc=fill, ec=edge, lw=1.8, zorder=2))
        top = y + BOX_H / 2
        ax.text(x, top - 0.25, _fit(s.name, 28), ha="center", va="center", fontsize=11.5, weight="bold", zorder=3)
        ax.text(x, top - 0.52, _fit(s.notebook_text(), 40), ha="center", va="center", fontsize=8, color="#333333",
                family="monospace", zorder=3)
        ax.text(x, top - 0.78, _fit(s.grid_text() or "no grid", 40), ha="center", va="center", fontsize=8.5,
                color="#222222" if s.grid or s.grid_items else "#888888", zorder=3)
        ax.text(x, top - 1.02, _fit(s.count_text(), 40), ha="center", va="center", fontsize=8.5, zorder=3)
        _status_bar(ax, Rectangle, s, x - BOX_W / 2 + 0.15, y - BOX_H / 2 + 0.1, BOX_W - 0.3, 0.09)
    handles = [Patch(facecolor=COLORS[k][0], edgecolor=COLORS[k][1], label=LABELS[k]) for k in ORDER]
    ax.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=8.5,
              bbox_to_anchor=(0.5, 0.0), handlelength=1.2)
    if title:
        ax.text(-max(width, 7.0) / 2 + 0.15, 0.2, title, ha="left", va="center", fontsize=9, color="#555555")
    return fig


def _status_bar(ax, Rectangle, s: NodeSummary, x: float, y: float, w: float, h: float) -> None:
    """A thin bar split by the share of variants in each status."""
    if not s.variants:
        return
    for status in ORDER:
        n = s.counts.get(status, 0)
        if not n:
            continue
        part = w * n / s.variants
        ax.add_patch(Rectangle((x, y), part, h, fc=COLORS[status][1], ec="none", zorder=3))
        x += part


def _fit(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


_BY_SUFFIX = {"png": "png", "svg": "svg", "dot": "dot", "gv": "dot", "mmd": "mermaid", "mermaid": "mermaid"}


def plot(plan: Plan, output: Path | None = None, fmt: str | None = None, *,
         force: bool = False) -> tuple[str, Path | None]:
    """Write the picture (png/svg), or the dot/mermaid text to ``output``, and return (format, path);
    without ``output``, dot/mermaid return (text, None).

    The format comes from ``fmt``, else the output's extension, else PNG; the default
    output is ``<build_dir>/graph.<format>``.  An existing file is replaced only when nbgraph
    plot wrote it in this format (see :data:`MARK`), or with ``force``.
    """
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        fmt = _BY_SUFFIX.get(suffix, "png")
        if output is not None and suffix not in _BY_SUFFIX:
            raise PlotError(f"{output}: cannot tell the format from the extension; "
                                  "name it .png, .svg, .dot or .mmd, or pass --format")
    if fmt not in FORMATS:
        raise PlotError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    if output is not None and fmt in ("png", "svg") and output.suffix.lower() not in ("", f".{fmt}"):
        raise PlotError(f"{output}: the extension does not match --format {fmt}; name it {output.stem}.{fmt}")
    summaries = summarize(plan)
    if fmt in ("dot", "mermaid"):
        text = to_dot(summaries) if fmt == "dot" else to_mermaid(summaries)
        if output is None:
            return text, None
        from ..fsutil import atomic_write_text

        check_replace(Path(output), fmt, force)
        atomic_write_text(Path(output), text)  # -o with a text format: the file, not stdout
        return fmt, Path(output)
    path = Path(output) if output is not None else plan.spec.build_dir / plot_file(fmt)
    check_replace(path, fmt, force)
    write_image(summaries, path, fmt, title=plan.spec.file.name)
    return fmt, path


def check_replace(path: Path, fmt: str, force: bool = False) -> None:
    """Refuse to replace a file that nbgraph plot did not write as ``fmt`` (a notebook, the
    spec, the user's own ``graph.dot``), unless ``force``."""
    if force or not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_file() or not written_by_plot(path, fmt):
        raise PlotError(f"{path}: exists and is not a {fmt} file that nbgraph plot wrote; "
                        "choose another -o, or pass --force to replace it", path=str(path))


def written_by_plot(path: Path, fmt: str) -> bool:
    """Whether ``path`` carries nbgraph plot's mark for ``fmt`` where nbgraph puts it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if fmt == "png":
        return _png_software(head).startswith(MARK)
    lines = head.decode("utf-8", "replace").splitlines()
    return len(lines) > 1 and lines[1] == _MARK_LINES[fmt]


def _png_software(data: bytes) -> str:
    """The ``Software`` tEXt chunk of a PNG (before its image data), or ""."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return ""
    at = 8
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + size]
        if kind == b"IDAT":
            break
        if kind == b"tEXt" and body.startswith(b"Software\0"):
            return body[len(b"Software\0"):].decode("latin-1")
        at += 12 + size
    return ""


def write_image(summaries: list[NodeSummary], path: Path, fmt: str, title: str = "") -> None:
    """Render to a temporary name beside ``path``, then rename (atomic)."""
    save_figure(draw(summaries, title), path, fmt)


def save_figure(fig: Any, path: Path, fmt: str) -> None:
    """A matplotlib figure as PNG or SVG with nbgraph's mark (see :data:`MARK`), written atomically."""
    import io

    import matplotlib

    from ..fsutil import atomic_write_bytes

    buf = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": f"{MARK} (matplotlib {matplotlib.__version__})"}
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "nbgraph"}):  # real, searchable text
        fig.savefig(buf, format=fmt, facecolor="white", metadata=metadata)
    data = buf.getvalue()
    if fmt == "svg":  # the mark as the second line, after the XML declaration
        first, sep, rest = data.partition(b"\n")
        data = first + sep + _MARK_LINES["svg"].encode() + b"\n" + rest
    atomic_write_bytes(path, data)
