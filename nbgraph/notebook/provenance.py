"""Provenance of inherited state: what arrived from where, what did not and why.

:class:`Inherited` is what ``inherit_from`` returns.  It is the last expression of a
notebook cell, so it renders itself: plain text for terminals and logs (``__repr__``), a
compact table in JupyterLab (``_repr_html_``).  :func:`collisions` is the one rule for
names several parents set, shared by the injected cells, ``inherit_from`` and the scheduler.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

_MAX_ROWS = 40


def collisions(defined: Iterable[tuple[str, Mapping[str, str | None]]]) -> dict[str, list[str]]:
    """Names that several sources set to different values -> those sources, in merge order.

    ``defined`` is each source (in merge order) with the content digest of every name it
    sets, as its snapshot's manifest keeps them; a value without a digest (a large
    object-heavy one) cannot be compared and counts as different.  Graph runs, forked and
    fresh kernels and ``inherit_from`` all report collisions by this one rule.
    """
    seen: dict[str, list[tuple[str, str | None]]] = {}
    for source, digests in defined:
        for name, digest in digests.items():
            seen.setdefault(name, []).append((source, digest))
    clashing = {}
    for name, by in seen.items():
        digests = {digest for _, digest in by}
        if len(by) > 1 and (None in digests or len(digests) > 1):
            clashing[name] = [source for source, _ in by]
    return clashing


@dataclass(frozen=True)
class Source:
    """One parent state that was loaded: a live kernel or a graph variant's snapshot."""

    name: str
    snapshot: str
    detail: str = ""
    #: a live kernel's dump (made for this call), not a snapshot of a graph run
    live: bool = False
    #: a graph variant's snapshot: the binding its record names (see ``snapshot.manifest``)
    bound_to: Mapping[str, Any] | None = None


@dataclass
class Inherited:
    """The outcome of one ``inherit_from`` call."""

    sources: list[Source] = field(default_factory=list)
    #: variable -> (type, the source whose value won)
    variables: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: arrived neither copied nor rebuilt; each: name, type, reason, source
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: rebuilt from the parents' statements; each: name, type, source, notebook, variant, cell, ...
    rebuilt: list[dict[str, Any]] = field(default_factory=list)
    rebuild_seconds: float = 0.0
    #: variable -> every source that set it, in merge order (the last one won), when the values differ
    collisions: dict[str, list[str]] = field(default_factory=dict)
    #: caller's own variables that an inherited value replaced
    replaced: list[str] = field(default_factory=list)
    #: a graph variant's parameters, set after the snapshots (as papermill does)
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: set when nbgraph had already injected the state (under ``nbgraph run``): nothing was done
    injected_by: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.variables)

    @property
    def headline(self) -> str:
        if self.injected_by:
            return (f"nbgraph: state already injected by nbgraph run from {', '.join(self.injected_by)}; "
                    "inherit_from did nothing")
        names = ", ".join(s.name for s in self.sources)
        n = len(self.variables)
        return f"nbgraph: inherited {n} variable{'' if n == 1 else 's'} from {names}"

    def lines(self) -> list[str]:
        if self.injected_by:
            return [self.headline]
        out = [self.headline]
        for source in self.sources:
            if source.detail:
                out.append(f"  {source.name}: {source.detail}")
        shown = list(self.variables.items())
        several = len(self.sources) > 1
        if shown:
            parts = [f"{n} ({t}{', from ' + s if several else ''})" for n, (t, s) in shown[:_MAX_ROWS]]
            more = f" and {len(shown) - _MAX_ROWS} more" if len(shown) > _MAX_ROWS else ""
            out.append("  variables: " + ", ".join(parts) + more)
        if self.rebuilt:
            out.append(f"  rebuilt in {self.rebuild_seconds:.3f} s from the parents' statements: "
                       + ", ".join(f"{r['name']} ({r['type']}, {r.get('cell')} of {r.get('variant') or r.get('notebook')})"
                                   for r in self.rebuilt))
        if self.params:
            out.append("  parameters (set after the state, as in the run): "
                       + ", ".join(f"{k}={v!r}" for k, v in self.params.items()))
        for skip in self.skipped:
            out.append(f"  not inherited: {skip['name']} ({skip['type']}) from {skip['source']}: {skip['reason']}")
        if self.collisions:
            out.append("  set to different values by several parents, later wins: "
                       + ", ".join(f"{n} ({' < '.join(s)})" for n, s in self.collisions.items()))
        if self.replaced:
            out.append("  replaced your own: " + ", ".join(self.replaced))
        out += [f"  note: {note}" for note in self.notes]
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        e = html.escape
        parts = [f"<div><b>{e(self.headline)}</b>"]
        if self.injected_by:
            return parts[0] + "</div>"
        details = [f"<li>{e(s.name)}: {e(s.detail)}</li>" for s in self.sources if s.detail]
        if details:
            parts.append("<ul style='margin:0'>" + "".join(details) + "</ul>")
        rows = [f"<tr><td><code>{e(n)}</code></td><td>{e(t)}</td><td>{e(s)}</td></tr>"
                for n, (t, s) in list(self.variables.items())[:_MAX_ROWS]]
        if len(self.variables) > _MAX_ROWS:
            rows.append(f"<tr><td colspan=3>and {len(self.variables) - _MAX_ROWS} more</td></tr>")
        if rows:
            parts.append("<table><tr><th>variable</th><th>type</th><th>from</th></tr>" + "".join(rows) + "</table>")
        if self.rebuilt:
            items = "".join(f"<li><code>{e(r['name'])}</code> ({e(r['type'])}) from {e(str(r.get('cell')))} of "
                            f"{e(str(r.get('variant') or r.get('notebook')))}</li>" for r in self.rebuilt)
            parts.append(f"<div>rebuilt in {self.rebuild_seconds:.3f} s from the parents' statements:</div>"
                         f"<ul style='margin:0'>{items}</ul>")
        if self.params:
            parts.append("<div>parameters (set after the state): "
                         + e(", ".join(f"{k}={v!r}" for k, v in self.params.items())) + "</div>")
        if self.skipped:
            items = "".join(f"<li><code>{e(s['name'])}</code> ({e(s['type'])}) from {e(s['source'])}: {e(s['reason'])}</li>"
                            for s in self.skipped)
            parts.append(f"<div>not inherited:</div><ul style='margin:0'>{items}</ul>")
        if self.collisions:
            parts.append("<div>set to different values by several parents, later wins: "
                         + e(", ".join(f"{n} ({' < '.join(s)})" for n, s in self.collisions.items())) + "</div>")
        if self.replaced:
            parts.append("<div>replaced your own: " + e(", ".join(self.replaced)) + "</div>")
        parts += [f"<div>note: {e(note)}</div>" for note in self.notes]
        return "".join(parts) + "</div>"
