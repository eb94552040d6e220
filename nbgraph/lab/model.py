"""What the Lab panel asks about a spec, as plain JSON-ready data: the same rows the CLI prints.

Kept free of Tornado and Jupyter so the CLI, a script or a test can call it: the REST
handlers (:mod:`nbgraph.lab.handlers`) only resolve the path and serialise.  A spec is
named relative to the Jupyter server's root; one that resolves outside it (``..``, a
symlink out) is refused, because the server would otherwise read any file its user can.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..report.jsonout import finite
from ..spec import DEFAULT_SPEC

#: folders never searched for spec files (build output, environments, VCS)
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".ipynb_checkpoints", "build"}
MAX_SPECS = 20


class PathRefused(Exception):
    """A path a client of the server named that the server will not serve; ``str()`` is the one line.

    Not an :class:`~nbgraph.errors.NbgraphError`: it is about a request to the server, never
    raised by nbgraph's commands or its library API.
    """

    status = 400


class OutsideRoot(PathRefused):
    """It resolves outside the server's root (HTTP 403)."""

    status = 403


class NotFound(PathRefused):
    """No such spec file, folder or run (HTTP 404)."""

    status = 404


def resolve(root: str | Path, rel: str | None) -> Path:
    """``rel`` (relative to the server's root; a folder means its inheritance.yaml) as a real path under it."""
    base = Path(os.path.realpath(root))
    rel = (rel or "").strip().lstrip("/")
    target = Path(os.path.realpath(base / rel)) if rel else base
    if target != base and base not in target.parents:
        raise OutsideRoot(f"{rel}: outside the server's root; name a spec file under it")
    if target.is_dir():
        target = target / DEFAULT_SPEC
    if not target.is_file():
        raise NotFound(f"{rel or '.'}: no such spec file under the server's root")
    return target


def relative(root: str | Path, path: str | Path) -> str:
    """``path`` as the server's contents API names it (relative to the root, '/'-separated)."""
    return Path(os.path.realpath(path)).relative_to(os.path.realpath(root)).as_posix()


def status(spec: Path) -> list[dict[str, Any]]:
    """The rows of ``nbgraph status --json``."""
    from ..command import opened
    from ..plan import make_plan
    from ..report.status import status_rows

    return finite(status_rows(make_plan(opened(spec))))


def results(spec: Path) -> list[dict[str, Any]]:
    """The rows of ``nbgraph results --format json``."""
    from ..command import opened
    from ..plan import make_plan
    from ..report.results import result_rows

    return finite([row.to_json() for row in result_rows(make_plan(opened(spec)))])


def graph(spec: Path) -> dict[str, Any]:
    """Nodes in the layers ``nbgraph plot`` draws them in, with their notebooks, grids and parents;
    ``busy`` names the process running the build now (this server's or a terminal's), else None."""
    from ..command import opened
    from ..build.lock import held_by
    from ..plan import make_plan
    from ..report.plot import layers, summarize

    loaded = opened(spec)
    summaries = summarize(make_plan(loaded))
    nodes = [{"name": s.name, "notebook": s.notebook, "grid": s.grid_text(), "parents": list(s.parents),
              "variants": s.variants} for s in summaries]
    busy = held_by(loaded.build_dir) if loaded.build_dir.is_dir() else None
    return {"spec": str(loaded.file), "root": str(loaded.root), "nodes": nodes, "layers": layers(summaries),
            "busy": busy}


def find_specs(root: str | Path, folder: str = "") -> list[str]:
    """Spec files (``*.yaml`` with a ``notebooks:`` key) in ``folder`` and below, nearest first, at most MAX_SPECS."""
    base = resolve_folder(root, folder)
    found: list[str] = []
    for here, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and _looks_like_spec(Path(here) / name):
                found.append(relative(root, Path(here) / name))
        if len(found) >= MAX_SPECS or len(Path(here).relative_to(base).parts) >= 3:
            dirs[:] = []
    found.sort(key=lambda p: (p.count("/"), p))
    return found[:MAX_SPECS]


def resolve_folder(root: str | Path, folder: str) -> Path:
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(base / (folder or "").lstrip("/")))
    if target != base and base not in target.parents:
        raise OutsideRoot(f"{folder}: outside the server's root")
    if not target.is_dir():
        raise NotFound(f"{folder}: no such folder under the server's root")
    return target


def _looks_like_spec(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(65536)
    except OSError:
        return False
    return any(line.startswith("notebooks:") for line in head.splitlines())


def resolve_file(root: str | Path, rel: str) -> Path:
    """A file path (which may not exist yet) named relative to the root, refused outside it."""
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(base / rel.strip().lstrip("/")))
    if not rel.strip() or (target != base and base not in target.parents):
        raise OutsideRoot(f"{rel}: outside the server's root; name a notebook under it")
    return target
