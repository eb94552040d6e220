"""nbgraph's side of a run: what the kernel recorded -> the record's ``uses``.

Runs where the kernel ran (a Dask worker included), once it is done: files are hashed
there, paths kept relative to the spec's folder when inside it (:mod:`.paths`), so the
client, which decides staleness, finds the same files.  Declared ``inputs:`` are matched
and hashed here too, after the run, as the kernel saw them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .hashes import FileHashes, machine_hashes
from .packages import distribution_of
from .paths import matches, shown


def read_recorded(path: Path) -> dict[str, Any]:
    """What the kernel wrote (``notebook.uses.finish``), then the file is removed; {} if none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    path.unlink(missing_ok=True)
    return data if isinstance(data, dict) else {}


def collect(recorded: Mapping[str, Any], root: Path, inputs: Sequence[str] = (),
            hashes: FileHashes | None = None) -> dict[str, Any]:
    """``uses`` for the record: ``modules`` and ``files`` (name -> sha256), ``packages``
    (name -> version and site folder) and ``inputs`` (pattern -> name -> sha256)."""
    hashes = hashes or machine_hashes()
    uses: dict[str, Any] = {}
    for kind in ("modules", "files"):
        uses[kind] = _hashed(recorded.get(kind, ()), root, hashes)
    packages = {}
    for top, site in sorted((recorded.get("packages") or {}).items()):
        found = distribution_of(top, site)
        if found:
            packages[found[0]] = {"version": found[1], "site": site}
    uses["packages"] = packages
    uses["inputs"] = declared(inputs, root, hashes)
    hashes.save()
    return uses


def declared(inputs: Sequence[str], root: Path, hashes: FileHashes) -> dict[str, dict[str, str]]:
    """Each declared path or glob -> the files it matches now, hashed."""
    return {pattern: _hashed(matches(pattern, root), root, hashes) for pattern in inputs}


def _hashed(paths: Sequence[str | Path], root: Path, hashes: FileHashes) -> dict[str, str]:
    found = {}
    for path in paths:
        sha = hashes.digest(path)
        if sha is not None:  # read, then removed by the notebook: nothing to compare later
            found[shown(path, root)] = sha
    return found
