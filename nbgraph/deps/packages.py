"""Installed distributions, read from a site folder's ``*.dist-info`` / ``*.egg-info`` metadata.

The kernel says which top-level modules the notebook imported and the folder each was
installed in; this names the distribution (``sklearn`` -> ``scikit-learn``) and its version
there.  Reading the folder, not this process's ``importlib.metadata``, gives the kernel's
environment even when it is another interpreter's.  Names are normalised as pip does
(``scikit-learn``, ``pyyaml``).  A folder is listed once per process until it changes
(installing or removing a distribution changes it).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field

_SUFFIXES = (".dist-info", ".egg-info")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class _Site:
    stamp: int
    #: normalised name -> (version, metadata folder)
    dists: dict[str, tuple[str, str]]
    #: top-level module -> normalised name, filled as asked
    owners: dict[str, str | None] = field(default_factory=dict)
    tops: dict[str, set[str]] | None = None


_sites: dict[str, _Site] = {}
_lock = threading.Lock()


def distribution_of(top: str, site: str) -> tuple[str, str] | None:
    """(name, version) of the distribution that installed module ``top`` into ``site``."""
    info = _site(site)
    if info is None:
        return None
    with _lock:
        if top not in info.owners:
            info.owners[top] = _owner(top, site, info)
        name = info.owners[top]
    return (name, info.dists[name][0]) if name else None


def version_in(name: str, site: str) -> str | None:
    """The version of distribution ``name`` installed in ``site`` now; None if it is not there."""
    info = _site(site)
    found = info.dists.get(normalized(name)) if info else None
    return found[0] if found else None


def _site(site: str) -> _Site | None:
    try:
        stamp = os.stat(site).st_mtime_ns
    except OSError:
        return None
    with _lock:
        info = _sites.get(site)
        if info is None or info.stamp != stamp:
            info = _sites[site] = _Site(stamp, _list(site))
        return info


def _list(site: str) -> dict[str, tuple[str, str]]:
    dists = {}
    for entry in os.listdir(site):
        if not entry.endswith(_SUFFIXES):
            continue
        name, version = _name_version(os.path.join(site, entry))
        if name:
            dists.setdefault(normalized(name), (version, os.path.join(site, entry)))
    return dists


def _name_version(meta: str) -> tuple[str | None, str]:
    """From the metadata's own ``Name``/``Version`` headers (a folder name may be escaped)."""
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta, file), encoding="utf-8", errors="replace") as f:
                headers = {}
                for line in f:
                    if not line.strip():
                        break
                    key, _, value = line.partition(":")
                    if key in ("Name", "Version"):
                        headers[key] = value.strip()
                return headers.get("Name"), headers.get("Version", "")
        except (OSError, NotADirectoryError):
            continue
    return None, ""


def _owner(top: str, site: str, info: _Site) -> str | None:
    """Most distributions are named as their module; else their ``top_level.txt`` or ``RECORD`` says."""
    if normalized(top) in info.dists:
        return normalized(top)
    if info.tops is None:
        info.tops = {name: _tops(meta) for name, (_, meta) in info.dists.items()}
    return next((name for name, tops in info.tops.items() if top in tops), None)


def _tops(meta: str) -> set[str]:
    try:
        with open(os.path.join(meta, "top_level.txt"), encoding="utf-8") as f:
            return {line.strip() for line in f if line.strip()}
    except OSError:
        pass
    tops = set()
    try:
        with open(os.path.join(meta, "RECORD"), encoding="utf-8") as f:
            for line in f:
                first = line.split(",", 1)[0].split("/", 1)[0]
                if first and not first.endswith(_SUFFIXES) and first != "..":
                    tops.add(first.removesuffix(".py"))
    except OSError:
        pass
    return tops
