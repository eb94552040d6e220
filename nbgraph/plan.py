"""Decide, for every variant of the run graph, whether this run executes it and why."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable

import networkx as nx

from .cache import Decision, attached_decision, decide, key_parts, result_id
from .deps.hashes import machine_hashes, save_machine_hashes
from .errors import SelectionError
from .graph import Variant, run_graph, variants_of
from .build.records import SUCCEEDED, BuildLayout, Record
from .spec import NodeSpec, Spec


@dataclass
class Planned:
    variant: Variant
    node: NodeSpec
    decision: Decision
    record: Record | None
    selected: bool
    has_children: bool

    @property
    def will_run(self) -> bool:
        """Whether the scheduler executes it; attached nodes are never executed (see live.attach)."""
        return self.selected and self.decision.stale and not self.node.attach


@dataclass
class Plan:
    spec: Spec
    graph: nx.DiGraph
    layout: BuildLayout
    items: list[Planned]
    force: bool = False
    #: the nodes of ``--only`` (empty: all)
    only: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.by_name = {p.variant.name: p for p in self.items}

    def redecide(self) -> "Plan":
        """The same run graph decided again from the records as they are now (attached nodes
        re-snapshotted before the run change their children's keys)."""
        return _decided(self.spec, self.graph, self.layout, force=self.force, only=self.only)

    @property
    def to_run(self) -> list[Planned]:
        return [p for p in self.items if p.will_run]


def make_plan(spec: Spec, *, force: bool = False, only: Iterable[str] | None = None) -> Plan:
    """Key every variant and decide what runs; ``only`` limits the run to these nodes."""
    named = list(only or ())
    for name in named:
        if name not in spec.nodes:
            raise SelectionError(spec.no_such_node(name, "--only"), node=name)
    return _decided(spec, run_graph(spec), BuildLayout.for_spec(spec), force=force, only=frozenset(named))


def _decided(spec: Spec, rg: nx.DiGraph, layout: BuildLayout, *, force: bool, only: frozenset[str]) -> Plan:
    items: list[Planned] = []
    by_name: dict[str, Planned] = {}
    for variant in variants_of(rg):
        node = spec.nodes[variant.node]
        record = layout.read_record(variant)
        selected = not only or variant.node in only
        parents = [by_name[p] for p in variant.parents]
        # a parent that runs now has no result yet: its children are stale anyway ("will re-run")
        parent_keys = [f"pending:{p.decision.key}" if p.will_run or p.record is None else result_id(p.record)
                       for p in parents]
        if node.attach:
            decision = attached_decision(record)
        else:
            parts = key_parts(spec, node, variant, parent_keys)
            reruns = [p.variant.name for p in parents if p.will_run]
            decision = decide(parts, record, needs_snapshot=rg.out_degree(variant.name) > 0,
                              parent_reruns=reruns, force=force and selected)
            if not decision.stale and record is not None:
                decision = used_since(decision, record, spec, node)
        planned = Planned(variant, node, decision, record, selected, rg.out_degree(variant.name) > 0)
        items.append(planned)
        by_name[variant.name] = planned
    save_machine_hashes()
    plan = Plan(spec, rg, layout, items, force=force, only=only)
    if only:
        _check_only_inputs(plan)
    return plan


def used_since(decision: Decision, record: Record, spec: Spec, node: NodeSpec) -> Decision:
    """An up-to-date decision, unless something the variant used (``record.uses``) changed since."""
    from .deps.check import changed

    why, notes = changed(record.uses, spec.root, spec.node_inputs(node), machine_hashes(),
                         track_packages=spec.track_packages)
    return dataclasses.replace(decision, stale=why is not None, reason=why or decision.reason, notes=tuple(notes))


def _check_only_inputs(plan: Plan) -> None:
    """With --only, every parent outside the selection must already have its snapshot."""
    for item in plan.to_run:
        for parent_name in item.variant.parents:
            parent = plan.by_name[parent_name]
            if parent.selected:
                continue
            record = parent.record
            if record is None or record.status != SUCCEEDED or not record.snapshot:
                raise SelectionError(
                    f"--only {item.variant.node}: its parent {parent_name} has no snapshot yet "
                    f"({parent.decision.reason}); run without --only first, or add --only {parent.variant.node}",
                    node=item.variant.node, variant=parent_name)
