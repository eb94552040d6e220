"""Whether anything a variant used changed since its run: the reason, named after the thing.

Asked only of a variant whose key still matches (:mod:`nbgraph.plan`): its notebook,
parameters and parents are the same, so the question is what it read.  The first change
found is the reason (``lib/helpers.py changed``, ``data/raw.csv is missing``, ``input
data/*.parquet: 2 new files``, ``scikit-learn 1.5.0 -> 1.6.1``); with ``track_packages:
false`` a package's new version is a note that ``status`` shows, and re-runs nothing.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Mapping, Sequence

from .hashes import FileHashes
from .packages import version_in
from .paths import located, matches, shown


def changed(uses: Mapping[str, Any], root: Path, inputs: Sequence[str], hashes: FileHashes, *,
            track_packages: bool = True) -> tuple[str | None, list[str]]:
    """(why it must run again or None, notes on package versions that re-run nothing)."""
    notes = []
    for name, info in (uses.get("packages") or {}).items():
        now = version_in(name, info.get("site", ""))
        if now != info.get("version"):
            move = f"{name} {info.get('version')} -> {now or 'not installed'}"
            if track_packages:
                return move, notes
            notes.append(f"{move} (track_packages: false)")
    for kind in ("modules", "files"):
        for name, sha in (uses.get(kind) or {}).items():
            now = hashes.digest(located(name, root))
            if now is None:
                return f"{name} is missing", notes
            if now != sha:
                return f"{name} changed", notes
    recorded = uses.get("inputs") or {}
    for pattern in inputs:
        if pattern not in recorded:
            return f"input {pattern} is newly declared", notes
        why = _input_changed(pattern, recorded[pattern], root, hashes)
        if why:
            return why, notes
    return None, notes


def _input_changed(pattern: str, before: Mapping[str, str], root: Path, hashes: FileHashes) -> str | None:
    now = {shown(p, root): p for p in matches(pattern, root)}
    added, removed = set(now) - set(before), set(before) - set(now)
    if removed and not added and not glob.has_magic(pattern):
        return f"input {pattern} is missing"
    if added or removed:
        parts = [_count(len(added), "new file"), _count(len(removed), "file removed", "files removed")]
        return f"input {pattern}: " + ", ".join(p for p in parts if p)
    for name, path in now.items():
        if hashes.digest(path) != before[name]:
            return f"input {pattern}: {name} changed"
    return None


def _count(n: int, one: str, many: str | None = None) -> str:
    if not n:
        return ""
    return f"{n} {one}" if n == 1 else f"{n} {many or one + 's'}"
