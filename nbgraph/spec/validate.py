"""The whole spec: the tables of :mod:`.fields` over the top level and each node, then what only
the whole graph shows (names told apart ignoring case, parents that exist and snapshot,
cycles, grid keys along a lineage, keys an attached node cannot have)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..errors import SpecError
from .checks import check_node_name
from .fields import NODE_FIELDS, NODE_KEYS, TOP_FIELDS, TOP_KEYS, Entry, cycle_error, read
from .model import NodeSpec, Spec


def validate(file: Path, data: Any, key_lines: dict[int, dict[Any, int]]) -> Spec:
    """The spec that ``data`` (as :func:`~.load.read_spec_file` gives it) declares; the first mistake otherwise."""
    if data is None:
        raise SpecError.at(file, "the file is empty; it needs a 'notebooks:' mapping, "
                                 "e.g. notebooks: {load: {path: load.ipynb}}", line=1)
    if not isinstance(data, dict):
        raise SpecError.at(file, "the top level must be a mapping with a 'notebooks:' key", line=1)
    top = Entry(file, data, key_lines.get(id(data), {}))
    values = read(TOP_FIELDS, top, lambda key: top.at(
        f"unknown top-level key '{key}'; expected one of: {', '.join(TOP_KEYS)}", line=top.lines.get(key)))
    notebooks = values.pop("notebooks")
    nodes = _nodes(Entry(file, notebooks, key_lines.get(id(notebooks), {})), key_lines)
    _check_parents(file, nodes)
    _check_cycles(file, nodes)
    _check_grid_keys(file, nodes)
    return Spec(file=file, nodes=nodes, **values)


def _nodes(notebooks: Entry, key_lines: dict[int, dict[Any, int]]) -> dict[str, NodeSpec]:
    nodes: dict[str, NodeSpec] = {}
    folded: dict[str, str] = {}
    for name, raw in notebooks.raw.items():
        line = notebooks.lines.get(name)
        check_node_name(name, lambda message: notebooks.at(message, line=line))
        same = folded.setdefault(name.casefold(), name)
        if same != name:
            raise notebooks.at(f"node names '{same}' and '{name}' differ only in case; their build folders would be "
                               "one on a case-insensitive file system (macOS, Windows): rename one", line=line)
        nodes[name] = _node(Entry(notebooks.file, raw, key_lines.get(id(raw), {}), line=line, node=name,
                                  doc_lines=key_lines))
    return nodes


def _node(entry: Entry) -> NodeSpec:
    if isinstance(entry.raw, str):
        entry.raw = {"path": entry.raw}
    if not isinstance(entry.raw, dict):
        raise entry.at("must be a mapping with at least 'path: notebook.ipynb'")
    values = read(NODE_FIELDS, entry, lambda key: entry.at(
        f"unknown key '{key}'; expected one of: {', '.join(NODE_KEYS)}", key if isinstance(key, str) else None))
    if values.get("attach"):
        _check_attached(entry)
    return NodeSpec(name=entry.node, line=entry.line, **values)


def _check_attached(entry: Entry) -> None:
    """Keys that mean nothing for a notebook nbgraph does not execute (each row says why)."""
    for row in NODE_FIELDS:
        if row.not_attached and row.key in entry.raw:
            raise entry.at(f"'{row.key}' does not apply with 'attach: true': {row.not_attached}; remove one of them",
                           row.key)
    if entry.raw.get("snapshot") is False:
        raise entry.at("an attached node exists to pass its live state down; remove 'snapshot: false'", "snapshot")


def _check_parents(file: Path, nodes: Mapping[str, NodeSpec]) -> None:
    for node in nodes.values():
        for parent in node.parents:
            if parent not in nodes:
                known = ", ".join(sorted(nodes))
                raise SpecError.at(file, f"unknown parent '{parent}'; known nodes: {known}", node=node.name,
                                   field="parents" if len(node.parents) > 1 else "parent", line=node.line)
            if not nodes[parent].snapshot:
                raise SpecError.at(file, f"parent '{parent}' has 'snapshot: false', so it cannot have children; "
                                         "remove that line", node=node.name, field="parent", line=node.line)


def _check_cycles(file: Path, nodes: Mapping[str, NodeSpec]) -> None:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((p, n.name) for n in nodes.values() for p in n.parents)
    try:
        edges = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return
    cycle = [u for u, _ in edges] + [edges[0][0]]
    raise cycle_error(file, cycle, nodes[cycle[0]].line)


def _check_grid_keys(file: Path, nodes: Mapping[str, NodeSpec]) -> None:
    """A grid key must name one thing along a lineage, or variant names would be ambiguous."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_edges_from((p, n.name) for n in nodes.values() for p in n.parents)
    for node in nodes.values():
        own = set(node.grid_keys)
        if not own or node.name not in g:
            continue
        for anc in nx.ancestors(g, node.name):
            clash = own & set(nodes[anc].grid_keys)
            if clash:
                key = sorted(clash)[0]
                raise SpecError.at(file, f"grid key '{key}' is already a grid key of ancestor '{anc}'; rename one of them",
                                   line=node.line, node=node.name, field="grid")
