"""The notebook DAG and its expansion into the run graph of variants.

A node with a grid expands into one variant per grid point; a child runs once for every
combination of its parents' variants (mixins that share an ancestor only combine variants
that agree on it) times each point of its own grid.  A variant's name carries the grid
values of its whole lineage, ancestors first, so it is unique and stable:
``train[scaler=minmax,model=ridge,alpha=0.1]``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import networkx as nx

from .errors import SelectionError
from .spec import NodeSpec, Spec

#: a query matching more variants than this lists the first ones and counts the rest
_SHOWN = 8


@dataclass(frozen=True)
class Variant:
    """One papermill run: a node at one point of its lineage's grids."""

    name: str
    node: str
    #: grid values of the lineage (ancestors first, then own), as in the name
    identity: tuple[tuple[str, Any], ...]
    #: parameters injected into this notebook: the node's params plus its own grid point
    own_params: Mapping[str, Any]
    #: every parameter of the lineage (ancestors' params and grid values, then own)
    params: Mapping[str, Any]
    #: parent variant names, in the order of the node's parents (merge order)
    parents: tuple[str, ...]

    @property
    def slug(self) -> str:
        """Folder name for this variant's outputs, readable and safe on any file system."""
        if not self.identity:
            return "default"
        text = ",".join(f"{k}={format_value(v)}" for k, v in self.identity)
        safe = re.sub(r"[^A-Za-z0-9_.,=+-]", "_", text)
        if len(safe) > 100 or safe != text:
            digest = hashlib.sha256(text.encode()).hexdigest()[:10]
            safe = f"{safe[:80]}-{digest}"
        return safe


def format_value(value: Any) -> str:
    """How a grid value is written in a variant name: strings bare, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def variant_name(node: str, identity: tuple[tuple[str, Any], ...]) -> str:
    if not identity:
        return node
    return f"{node}[{','.join(f'{k}={format_value(v)}' for k, v in identity)}]"


def node_graph(spec: Spec) -> nx.DiGraph:
    """Nodes of the spec, edges parent -> child (the spec is already checked for cycles)."""
    g = nx.DiGraph()
    for name, node in spec.nodes.items():
        g.add_node(name, spec=node)
    for node in spec.nodes.values():
        for order, parent in enumerate(node.parents):
            g.add_edge(parent, node.name, order=order)
    return g


def node_order(spec: Spec, g: nx.DiGraph | None = None) -> list[str]:
    """Topological order that follows the YAML file's order where it is free to."""
    g = g if g is not None else node_graph(spec)
    position = {name: i for i, name in enumerate(spec.nodes)}
    return list(nx.lexicographical_topological_sort(g, key=position.__getitem__))


def _grid_points(node: NodeSpec) -> Iterator[tuple[tuple[str, Any], ...]]:
    keys = [k for k, _ in node.grid]
    for values in itertools.product(*(vals for _, vals in node.grid)):
        yield tuple(zip(keys, values))


def run_graph(spec: Spec) -> nx.DiGraph:
    """Expand the node DAG into variants; each graph node's ``variant`` attribute is a :class:`Variant`."""
    g = node_graph(spec)
    by_node: dict[str, list[Variant]] = {}
    rg = nx.DiGraph()
    for name in node_order(spec, g):
        node = spec.nodes[name]
        variants: list[Variant] = []
        parent_sets = itertools.product(*(by_node[p] for p in node.parents)) if node.parents else [()]
        for parent_combo in parent_sets:
            inherited = _merge_lineage(parent_combo)
            if inherited is None:
                continue
            identity_in, params_in = inherited
            for point in _grid_points(node):
                own = {**node.params, **dict(point)}
                variant = Variant(
                    name=variant_name(name, identity_in + point),
                    node=name,
                    identity=identity_in + point,
                    own_params=own,
                    params={**params_in, **own},
                    parents=tuple(v.name for v in parent_combo),
                )
                variants.append(variant)
                rg.add_node(variant.name, variant=variant)
                for order, parent in enumerate(variant.parents):
                    rg.add_edge(parent, variant.name, order=order)
        by_node[name] = variants
    return rg


def _merge_lineage(parents: tuple[Variant, ...]):
    """Identity and params inherited from a combination of parent variants, or None if inconsistent."""
    identity: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for parent in parents:
        for key, value in parent.identity:
            if key in identity and json.dumps(identity[key], sort_keys=True) != json.dumps(value, sort_keys=True):
                return None
            identity.setdefault(key, value)
        params.update(parent.params)
    return tuple(identity.items()), params


def variants_of(rg: nx.DiGraph) -> list[Variant]:
    """Variants in a stable topological order."""
    order = {name: i for i, name in enumerate(rg.nodes)}
    return [rg.nodes[n]["variant"] for n in nx.lexicographical_topological_sort(rg, key=order.__getitem__)]


def find_variants(rg: nx.DiGraph, query: str) -> list[Variant]:
    """Variants matching a node name, a full variant name, or a partial one (``train[model=ridge]``)."""
    if query in rg:
        return [rg.nodes[query]["variant"]]
    node, _, rest = query.partition("[")
    wanted = set(filter(None, rest.rstrip("]").split(","))) if rest else set()
    out = []
    for name in rg.nodes:
        variant: Variant = rg.nodes[name]["variant"]
        if variant.node != node:
            continue
        have = {f"{k}={format_value(v)}" for k, v in variant.identity}
        if wanted <= have:
            out.append(variant)
    return out


def one_variant(rg: nx.DiGraph, query: str, spec: Spec) -> Variant:
    """The single variant a (possibly partial) name designates; a clear error otherwise."""
    matches = find_variants(rg, query)
    if not matches:
        nodes = ", ".join(spec.nodes)
        raise SelectionError(f"{query}: no such node or variant in {spec.file.name} (nodes: {nodes}); "
                             "`nbgraph status` lists every variant", variant=query)
    if len(matches) > 1:
        names = [v.name for v in matches]
        shown = ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
        raise SelectionError(f"{query} matches {len(names)} variants: {shown}; name one of them "
                             "(add grid values inside the brackets)", variant=query, candidates=names)
    return matches[0]
