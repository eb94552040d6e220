"""What the benchmark scripts share: throw-away notebooks written for a measured run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat


def write_notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    """A python3 notebook with these code cells; ``parameters`` becomes papermill's tagged cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    if parameters:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
