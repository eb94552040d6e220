"""``nbgraph.results(spec)``: a study's results as a table, for Python.

The same rows as ``nbgraph results`` (what the last runs recorded, with the ancestors'
values named ``node.name``), as a pandas DataFrame indexed by variant when pandas is
installed, else as a list of dicts, so a notebook can compare variants without parsing
CLI output.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from .plan import make_plan
from .report.results import ResultRow, columns, result_rows
from .runner import open_build
from .spec import DEFAULT_SPEC, Spec, load_spec


def results(spec: str | os.PathLike | Spec = DEFAULT_SPEC, *, nodes: Iterable[str] = (), every: bool = False) -> Any:
    """One row per variant: ``variant``, ``node``, ``status``, ``stale``, its parameters, then its values.

    ``nodes`` keeps those nodes' variants; ``every`` keeps variants that recorded nothing
    (by default they are left out, unless no variant recorded anything).  A value named like
    a parameter is ``result:<name>``, as in the CLI's table.
    """
    loaded = spec if isinstance(spec, Spec) else load_spec(spec)
    open_build(loaded, create=False)
    rows = result_rows(make_plan(loaded), nodes=nodes, every=every)
    records = as_dicts(rows)
    try:
        import pandas
    except ImportError:
        return records
    frame = pandas.DataFrame.from_records(records, columns=_names(rows))
    return frame.set_index("variant")


def as_dicts(rows: list[ResultRow]) -> list[dict[str, Any]]:
    params, values = columns(rows)
    out = []
    for row in rows:
        entry: dict[str, Any] = {"variant": row.name, "node": row.node, "status": row.status, "stale": row.stale}
        entry.update({p: row.params.get(p) for p in params})
        entry.update({_value_column(v, params): row.values().get(v) for v in values})
        out.append(entry)
    return out


def _names(rows: list[ResultRow]) -> list[str]:
    params, values = columns(rows)
    return ["variant", "node", "status", "stale", *params, *(_value_column(v, params) for v in values)]


def _value_column(name: str, params: list[str]) -> str:
    return f"result:{name}" if name in params or name in ("variant", "node", "status", "stale") else name
