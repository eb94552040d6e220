"""Runs inside the kernel: the injected cells call these to load and save kernel state.

Kept free of heavy imports, and careful to leave no names behind in the user namespace.
"""

from __future__ import annotations

import sys
from typing import Any, MutableMapping, Sequence

#: Parents whose state nbgraph injected into this kernel (read by ``inherit_from``).
INJECTED: list[str] = []

#: Set in a fork-server zygote: (parents, namespace, stdout, stderr) of the state it already
#: loaded, so that the forked kernel's injected cell only reports what it inherited.
_PRELOADED: tuple[list[tuple[str, str]], MutableMapping[str, Any], str, str] | None = None


def inherit(parents: Sequence[tuple[str, str]], ns: MutableMapping[str, Any]) -> None:
    """Load each parent's snapshot into ``ns`` in order (later wins) and say what arrived."""
    global _PRELOADED
    if _PRELOADED is not None and _PRELOADED[1] is ns and _PRELOADED[0] == [tuple(p) for p in parents]:
        (*_, out, err), _PRELOADED = _PRELOADED, None
        sys.stderr.write(err)
        print(out)
        return
    from ..snapshot.format import load_snapshot, read_manifest

    origin: dict[str, str] = {}
    collisions: list[str] = []
    lines = []
    for parent, path in parents:
        manifest = read_manifest(path)
        state = load_snapshot(path)
        for name in state:
            if name in origin and name not in collisions:
                collisions.append(name)
            origin[name] = parent
        ns.update(state)
        INJECTED.append(parent)
        lines.append(f"nbgraph: inherited {len(state)} variables from {parent}")
        for skip in manifest.get("skipped", []):
            lines.append(f"  not inherited: {skip['name']} ({skip['type']}): {skip['reason']}")
    if collisions:
        shown = ", ".join(f"{n} (from {origin[n]})" for n in collisions)
        lines.append(f"  defined by several parents, later wins: {shown}")
    print("\n".join(lines))


def preload(parents: Sequence[tuple[str, str]], ns: MutableMapping[str, Any]) -> str:
    """Do what :func:`inherit` does, in a zygote, and keep its report for the forked kernels."""
    import contextlib
    import io

    global _PRELOADED
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        inherit(parents, ns)
    report = out.getvalue().rstrip("\n")
    _PRELOADED = ([tuple(p) for p in parents], ns, report, err.getvalue())
    return report


def save(ns: MutableMapping[str, Any], dest: str, exclude: Sequence[str] = (), strict: bool = False) -> None:
    """Snapshot the user namespace for this variant's children and report what was left out."""
    from ..snapshot.format import dump_namespace

    report = dump_namespace(ns, dest, exclude=exclude, strict=strict)
    size = report.size / 1e6
    lines = [f"nbgraph: saved {len(report.variables)} variables ({size:.1f} MB) for the notebooks that inherit from this one"]
    for skip in report.skipped:
        lines.append(f"  not saved: {skip['name']} ({skip['type']}): {skip['reason']}")
    print("\n".join(lines), file=sys.stdout)
