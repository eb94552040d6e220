"""Paths as records keep them: relative to the spec's folder when inside it, else absolute.

So a record written on a Dask worker, or before the project moved, names the same files on
the client; and reasons read as the user wrote the paths (``lib/helpers.py changed``).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path


def shown(path: str | Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX separators) when inside it, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def located(name: str, root: Path) -> Path:
    """The file a record's ``name`` stands for, on this machine."""
    path = Path(name)
    return path if path.is_absolute() else root / path


def matches(pattern: str, root: Path) -> list[Path]:
    """The files a declared input names: a path or a glob (``**`` spans folders), relative to ``root``."""
    base = located(os.path.expanduser(pattern), root)
    if not glob.has_magic(str(base)):
        return [base] if base.is_file() else []
    return sorted(Path(p) for p in glob.glob(str(base), recursive=True) if os.path.isfile(p))
