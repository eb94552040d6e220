"""Debug from a variant: the state a graph variant started from in the last run.

That state is its parents' snapshots (downloaded first when the build location is
remote), merged in the node's parent order, then its own parameters (papermill's injected cell runs after the inherited state, so parameters
win).  Loading it in JupyterLab lets a failed variant be replayed cell by cell: skip the
notebook's ``parameters`` cell, which would put the defaults back.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..cache import result_id
from ..errors import SelectionError, SnapshotError
from ..graph import one_variant, run_graph
from ..build.records import SUCCEEDED, BuildLayout
from ..spec import Spec, load_spec
from ..build.location import open_store
from .provenance import Source


def variant_sources(queries: list[str], spec: str | os.PathLike | Spec) -> tuple[list[Source], dict[str, Any], list[str]]:
    """Snapshots (in merge order), parameters and notes for the variants named by ``queries``."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    rg = run_graph(spec)
    layout = BuildLayout.for_spec(spec)
    store = open_store(spec.build_location, spec.storage_options, root=spec.build_dir)
    if store.remote:  # a build on S3 & co: this machine's mirror of the records, then the snapshots needed
        store.pull_records()
    sources: list[Source] = []
    params: dict[str, Any] = {}
    notes: list[str] = []
    for query in queries:
        variant = one_variant(rg, query, spec)
        if not variant.parents:
            raise SelectionError(f"{variant.name} has no parent in {spec.file.name}: it starts from an empty kernel, "
                                 "so there is no state to inherit", variant=variant.name)
        record = layout.read_record(variant)
        recorded = list((record.key_parts or {}).get("parents") or []) if record else []
        if record is None:
            notes.append(f"{variant.name} has not run yet: this is the state its parents have now")
        for index, parent_name in enumerate(variant.parents):
            parent = rg.nodes[parent_name]["variant"]
            parent_record = layout.read_record(parent)
            if parent_record is None or parent_record.status != SUCCEEDED or not parent_record.snapshot:
                why = parent_record.status if parent_record else "never ran"
                raise SnapshotError(f"{parent_name} (parent of {variant.name}) has no snapshot ({why}); "
                                    f"run `nbgraph run {spec.file}` first", variant=parent_name)
            if record is not None and index < len(recorded) and recorded[index] != result_id(parent_record):
                notes.append(f"{parent_name} has changed since {variant.name} last ran: this is its newer state")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(parent_record.finished)) if parent_record.finished else "?"
            sources.append(Source(name=parent_name, snapshot=str(store.fetch(parent_record.snapshot)),
                                  detail=f"snapshot from the run of {when}, handed to {variant.name}",
                                  bound_to=parent_record.binding))
        params.update(variant.own_params)
    return sources, params, notes

