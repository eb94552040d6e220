"""The values a notebook recorded with ``nbgraph.record``, read back from its executed notebook.

The kernel's side (:mod:`nbgraph.notebook.record`) writes each value as a display output
of its own mimetype; this is nbgraph's side, run once the kernel is done.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..fsutil import atomic_write_json
from ..notebook.record import MIMETYPE

#: beside the executed notebook: what it recorded, for ``nbgraph results`` and other tools
RESULTS_FILE = "results.json"


def recorded(cells: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Values recorded in an executed notebook's cells, in order (a later record of a name wins)."""
    values: dict[str, Any] = {}
    for cell in cells:
        for output in cell.get("outputs", ()) or ():
            data = (output.get("data") or {}).get(MIMETYPE)
            if isinstance(data, str):  # some writers keep JSON mimetypes as text
                try:
                    data = json.loads(data)
                except ValueError:
                    continue
            if isinstance(data, Mapping) and isinstance(data.get("name"), str):
                values[data["name"]] = data.get("value")
    return values


def collect_results(out: Path) -> dict[str, Any]:
    """The values recorded in the executed notebook, also written to ``results.json`` beside it."""
    target = out.with_name(RESULTS_FILE)
    try:
        executed = json.loads(out.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        executed = []
    results = recorded(executed)
    atomic_write_json(target, results)
    return results
