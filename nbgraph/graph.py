"""The notebook DAG and its expansion into the run graph of variants.

A node with a grid expands into one variant per grid point; a child runs once for every
combination of its parents' variants (mixins that share an ancestor only combine variants
that agree on it) times each point of its own grid (a list grid: each point of each of its mappings).  A variant's name carries the grid
values of its whole lineage, ancestors first, so it is unique and stable:
``train[scaler=minmax,model=ridge,alpha=0.1]`` (how values are written, and how
folders are named after them, is :mod:`nbgraph.names`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import networkx as nx

from .errors import SelectionError, SpecError
from .names import NameSyntaxError, canonical, parse_name, slug as folder_name, value_matches, variant_name
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
        """Folder name for this variant's outputs: distinct for distinct variants, safe on any file system."""
        return folder_name(self.identity)


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
    """The node's own grid points: each mapping's product, in the order written (a list grid unites them)."""
    for block in node.grid_blocks:
        keys = [k for k, _ in block]
        for values in itertools.product(*(vals for _, vals in block)):
            yield tuple(zip(keys, values))


def run_graph(spec: Spec) -> nx.DiGraph:
    """Expand the node DAG into variants; each graph node's ``variant`` attribute is a :class:`Variant`."""
    g = node_graph(spec)
    by_node: dict[str, list[Variant]] = {}
    folders: dict[tuple[str, str], str] = {}
    #: variant -> the variant of each of its ancestor nodes (and its own node) it descends from
    lineage: dict[str, dict[str, str]] = {}
    rg = nx.DiGraph()
    for name in node_order(spec, g):
        node = spec.nodes[name]
        variants: list[Variant] = []
        parent_sets = itertools.product(*(by_node[p] for p in node.parents)) if node.parents else [()]
        for parent_combo in parent_sets:
            inherited = _merge_lineage(parent_combo, lineage)
            if inherited is None:
                continue
            identity_in, params_in, ancestors = inherited
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
                _check_distinct(spec, rg, folders, variant)
                variants.append(variant)
                lineage[variant.name] = {**ancestors, name: variant.name}
                rg.add_node(variant.name, variant=variant)
                for order, parent in enumerate(variant.parents):
                    rg.add_edge(parent, variant.name, order=order)
        by_node[name] = variants
    return rg


def _check_distinct(spec: Spec, rg: nx.DiGraph, folders: dict[tuple[str, str], str], variant: Variant) -> None:
    """Refuse what would still mix two variants up: one name, or folders that differ only in case.

    Names and folders are distinct by construction (:mod:`nbgraph.names`); what remains is
    grid values differing only in the case of a letter, which macOS's file system would
    store in one folder, two combinations of mixin parents that agree on every grid value
    their names carry, and (in theory) a collision of hashed folder names.
    """
    node = spec.nodes[variant.node]
    if variant.name in rg:
        first = rg.nodes[variant.name]["variant"].parents
        raise SpecError.at(spec.file, f"two combinations of parent variants, ({', '.join(first)}) and "
                                      f"({', '.join(variant.parents)}), would both make {variant.name}; "
                                      "give the parents' grids keys of their own (rename one)",
                           line=node.line, node=node.name, field="parents")
    other = folders.get((variant.node, variant.slug.casefold()))
    if other is None:
        folders[(variant.node, variant.slug.casefold())] = variant.name
        return
    raise SpecError.at(spec.file, f"variants {other} and {variant.name} would share the output folder "
                                  f"{variant.node}/{variant.slug}/ (folders are told apart ignoring case, as on macOS); "
                                  "make the grid values differ by more than the case of a letter",
                       line=node.line, node=node.name, field="grid")


def _merge_lineage(parents: tuple[Variant, ...], lineage: Mapping[str, Mapping[str, str]]):
    """Identity, params and ancestor variants inherited from a combination of parent variants, or
    None if they disagree: on a grid value, or on which variant of a shared ancestor they come from
    (with a list grid, agreeing on the values both carry does not make it one variant)."""
    identity: dict[str, Any] = {}
    params: dict[str, Any] = {}
    ancestors: dict[str, str] = {}
    for parent in parents:
        for node, name in lineage[parent.name].items():
            if ancestors.setdefault(node, name) != name:
                return None
        for key, value in parent.identity:
            if key in identity and canonical(identity[key]) != canonical(value):
                return None
            identity.setdefault(key, value)
        params.update(parent.params)
    return tuple(identity.items()), params, ancestors


def variants_of(rg: nx.DiGraph) -> list[Variant]:
    """Variants in a stable topological order."""
    order = {name: i for i, name in enumerate(rg.nodes)}
    return [rg.nodes[n]["variant"] for n in nx.lexicographical_topological_sort(rg, key=order.__getitem__)]


def find_variants(rg: nx.DiGraph, query: str) -> list[Variant]:
    """Variants matching a node name, a full variant name, or a partial one (``train[model=ridge]``)."""
    if query in rg:
        return [rg.nodes[query]["variant"]]
    try:
        node, wanted = parse_name(query)
    except NameSyntaxError:
        return []
    out = []
    for name in rg.nodes:
        variant: Variant = rg.nodes[name]["variant"]
        if variant.node != node:
            continue
        have = dict(variant.identity)
        if all(key in have and value_matches(written, value, have[key]) for key, written, value in wanted):
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
