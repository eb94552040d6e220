"""Runs inside the kernel: the injected cells call these to load and save kernel state.

Kept free of heavy imports, and careful to leave no names behind in the user
namespace.  Called from an injected cell (see ``nbgraph.kernelcode``), they work on that
cell's globals, the user namespace, found as their caller's: the cell names nothing of it.  Both print a
short note that stays in the executed notebook: what was inherited or saved, and every
variable left out, with its type and the reason.
"""

from __future__ import annotations

import sys
from typing import Any, MutableMapping, Sequence

#: Parents whose state nbgraph injected into this kernel (read by ``inherit_from``).
INJECTED: list[str] = []

#: At most this many left-out variables are listed one per line; the rest are counted.
SHOWN = 12

#: Set in a fork-server zygote: (parents, namespace, stdout, stderr) of the state it already
#: loaded, so that the forked kernel's injected cell only reports what it inherited.
_PRELOADED: tuple[list[tuple[Any, ...]], MutableMapping[str, Any], str, str] | None = None


def inherit(parents: Sequence[Sequence[Any]], verified: bool = False, *,
            ns: MutableMapping[str, Any] | None = None) -> None:
    """Load each parent's snapshot into ``ns`` (default: the caller's globals) in order (later
    wins) and say what arrived.

    ``parents``: ``[name, snapshot, binding]`` each; the binding (what the parent's record
    names, see ``snapshot.manifest``) is checked against the snapshot's signed one, so a
    snapshot copied over from another variant is refused here too.  ``verified``: the
    runner checked every byte of these snapshots in this run, so only the signature, the
    binding, the pickle stream and the sizes are checked here (big buffers are mapped, not read).
    """
    global _PRELOADED
    if ns is None:
        ns = sys._getframe(1).f_globals
    if _PRELOADED is not None and _PRELOADED[1] is ns and _PRELOADED[0] == [tuple(p) for p in parents]:
        (*_, out, err), _PRELOADED = _PRELOADED, None  # a forked kernel: the zygote loaded it
        sys.stderr.write(err)
        print(out)
        return
    from ..snapshot.format import load_with_manifest
    from .provenance import collisions

    defined: list[tuple[str, dict[str, str | None]]] = []
    lines = []
    for parent, path, *bound in parents:
        failed: list[dict[str, str]] = []
        manifest, state = load_with_manifest(path, ns, verify_buffers=not verified, failed=failed,
                                             expect=bound[0] if bound else None)
        defined.append((parent, {e["name"]: e.get("digest") for e in manifest.get("entries", []) if e["name"] in state}))
        INJECTED.append(parent)
        lines.append(f"nbgraph: inherited {len(state)} variables from {parent}")
        left_out = list(manifest.get("skipped", [])) + failed
        lines += _left_out("not inherited", left_out)
    clashing = collisions(defined)
    if clashing:
        shown = ", ".join(f"{name} (from {sources[-1]})" for name, sources in clashing.items())
        lines.append(f"  set to different values by several parents, later wins: {shown}")
    print("\n".join(lines))


def preload(parents: Sequence[Sequence[Any]], ns: MutableMapping[str, Any], verified: bool = False) -> str:
    """Do what :func:`inherit` does, in a zygote, and keep its report for the forked kernels."""
    import contextlib
    import io

    global _PRELOADED
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        inherit(parents, verified, ns=ns)
    report = out.getvalue().rstrip("\n")
    _PRELOADED = ([tuple(p) for p in parents], ns, report, err.getvalue())
    return report


#: Set to ``off`` in a kernel's environment, snapshots share no chunk (the store benchmark's baseline).
SHARING_ENV = "NBGRAPH_SHARING"


def save(dest: str, exclude: Sequence[str] = (), strict: bool = False, seal: bool = False, *,
         objects: str | None = None, ns: MutableMapping[str, Any] | None = None) -> None:
    """Snapshot ``ns`` (default: the caller's globals, the user namespace) for this variant's
    children and report what was left out.

    ``objects``: the build location's chunk store, shared by every snapshot of it.
    Unsealed by default: the runner binds it to the variant once this kernel is done
    (see ``snapshot.manifest``).
    """
    import os

    from ..snapshot.format import dump_namespace

    if ns is None:
        ns = sys._getframe(1).f_globals
    share = os.environ.get(SHARING_ENV) != "off"
    report = dump_namespace(ns, dest, exclude=exclude, strict=strict, seal=seal,
                            objects=objects if share else None, share=share)
    size, new = report.size / 1e6, report.written / 1e6
    shared = f", {size - new:.1f} MB of it shared with its parents" if size - new >= 0.05 else ""
    lines = [f"nbgraph: saved {len(report.variables)} variables ({size:.1f} MB{shared}) "
             "for the notebooks that inherit from this one"]
    lines += _left_out("not saved", report.skipped)
    print("\n".join(lines), file=sys.stdout)


def _left_out(verb: str, skipped: list[dict[str, str]]) -> list[str]:
    lines = [f"  {verb}: {s['name']} ({s['type']}): {s['reason']}" for s in skipped[:SHOWN]]
    if len(skipped) > SHOWN:
        lines.append(f"  ... and {len(skipped) - SHOWN} more")
    return lines
