"""The run's side of recording history and rebuilding: what the injected cells are told, and
what the kernel reports back (see :mod:`nbgraph.notebook.history` and ``.rebuild``).

The kernel records the cells it runs under the labels the run gives them (``cell 3`` as the
notebook counts its cells, ``the parameters`` for papermill's cell), and writes what it
rebuilt, and what arrived neither copied nor rebuilt, to a JSON file beside the executed
notebook, read back here into the variant's outcome (then its record and ``status --json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import kernelcode
from .job import Job

HISTORY = "nbgraph.notebook.history"


def report_file(job: Job) -> Path:
    """Where the inherit cell writes what it rebuilt (a temporary beside the executed notebook)."""
    out = Path(job.output)
    return out.with_name(f".{out.stem}.partial.rebuilt.json")


def labels(cells: list[Any]) -> list[list[str]]:
    """``[cell id, label]`` of every code cell the notebook itself runs, in order."""
    from .faults import user_cell_number

    found = []
    for index, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") != "code" or "nbgraph-injected" in tags:
            continue
        number = user_cell_number(cells, index)
        found.append([str(cell.get("id", "")), f"cell {number}" if number is not None else "the parameters"])
    return found


def start_history(job: Job, cells: list[Any]) -> str:
    """The statements that start recording the notebook's cells (after the parents' state is in)."""
    return kernelcode.call(HISTORY, "start", job.variant, Path(job.notebook).name, labels(cells))


def collect(job: Job) -> dict[str, Any]:
    """What the kernel rebuilt: ``rebuilt``, ``not_inherited``, ``seconds`` (empty if it wrote nothing)."""
    path = report_file(job)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    finally:
        path.unlink(missing_ok=True)
    return data if isinstance(data, dict) else {}
