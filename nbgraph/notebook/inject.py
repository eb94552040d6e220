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

#: Set in a fork-server zygote: (parents, namespace, loaded, stdout, stderr) of the state it
#: already loaded, so that the forked kernel's injected cell only rebuilds and reports.
_PRELOADED: tuple[list[tuple[Any, ...]], MutableMapping[str, Any], list[Any], str, str] | None = None


def inherit(parents: Sequence[Sequence[Any]], verified: bool = False, *,
            ns: MutableMapping[str, Any] | None = None, rebuild: bool = True, strict: bool = False,
            report: str | None = None) -> None:
    """Load each parent's snapshot into ``ns`` (default: the caller's globals) in order (later
    wins), rebuild what they could not copy, and say what arrived.

    ``parents``: ``[name, snapshot, binding]`` each; the binding (what the parent's record
    names, see ``snapshot.manifest``) is checked against the snapshot's signed one, so a
    snapshot copied over from another variant is refused here too.  ``verified``: the
    runner checked every byte of these snapshots in this run, so only the signature, the
    binding, the pickle stream and the sizes are checked here (big buffers are mapped, not read).
    ``rebuild``: replay the parents' own statements for what was not copied (:mod:`.rebuild`),
    here, after a fork too; ``strict``: fail on a variable neither copied nor rebuilt;
    ``report``: where to write what was rebuilt and what did not arrive (JSON, for the runner).
    """
    global _PRELOADED
    if ns is None:
        ns = sys._getframe(1).f_globals
    if _PRELOADED is not None and _PRELOADED[1] is ns and _PRELOADED[0] == [tuple(p) for p in parents]:
        (*_, loaded, out, err), _PRELOADED = _PRELOADED, None  # a forked kernel: the zygote loaded it
        sys.stderr.write(err)
    else:
        loaded, out = _load(parents, ns, verified)
    from . import history
    from .rebuild import rebuild as rebuild_into

    done = rebuild_into(ns, loaded, enabled=rebuild)
    for _, manifest, _ in loaded:
        history.adopt((manifest.get("history") or {}).get("cells") or [])
    print("\n".join([out, *_rebuild_lines(done)]))
    if report:
        _write_json(report, done.to_json())
    if strict and done.not_inherited:
        _refuse_strict(done.not_inherited)


def _load(parents: Sequence[Sequence[Any]], ns: MutableMapping[str, Any], verified: bool) -> tuple[list[Any], str]:
    """Load the snapshots: ``[(parent, manifest, failed)]`` and the lines saying what arrived."""
    from ..snapshot.format import load_with_manifest
    from .provenance import collisions

    defined: list[tuple[str, dict[str, str | None]]] = []
    lines = []
    loaded = []
    for parent, path, *bound in parents:
        failed: list[dict[str, str]] = []
        manifest, state = load_with_manifest(path, ns, verify_buffers=not verified, failed=failed,
                                             expect=bound[0] if bound else None)
        defined.append((parent, {e["name"]: e.get("digest") for e in manifest.get("entries", []) if e["name"] in state}))
        INJECTED.append(parent)
        lines.append(f"nbgraph: inherited {len(state)} variables from {parent}")
        loaded.append((parent, manifest, failed))
    clashing = collisions(defined)
    if clashing:
        shown = ", ".join(f"{name} (from {sources[-1]})" for name, sources in clashing.items())
        lines.append(f"  set to different values by several parents, later wins: {shown}")
    return loaded, "\n".join(lines)


def _rebuild_lines(done: Any) -> list[str]:
    lines = []
    if done.rebuilt:
        shown = [f"{r['name']} ({r['type']}) from {r['cell']} of {r.get('variant') or r.get('notebook')}"
                 for r in done.rebuilt[:SHOWN]]
        more = f" and {len(done.rebuilt) - SHOWN} more" if len(done.rebuilt) > SHOWN else ""
        statements = sum(r["statements"] for r in done.rebuilt)
        lines.append("  rebuilt: " + ", ".join(shown) + more)
        lines.append(f"  rebuilt {len(done.rebuilt)} variable{'s' if len(done.rebuilt) != 1 else ''} in "
                     f"{done.seconds:.3f} s by replaying {statements} of the parents' statements")
    return lines + _left_out("not inherited", done.not_inherited)


def _refuse_strict(missing: list[dict[str, Any]]) -> None:
    from ..errors import SnapshotError

    first = missing[0]
    raise SnapshotError(f"strict mode: {', '.join(m['name'] for m in missing)} arrived neither copied nor rebuilt "
                        f"({first['name']}: {first['reason']}); make the parent's statements replayable, or drop "
                        "'strict' for this node", variables=[m["name"] for m in missing])


def _write_json(path: str, data: Any) -> None:
    import json

    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)


def preload(parents: Sequence[Sequence[Any]], ns: MutableMapping[str, Any], verified: bool = False) -> str:
    """Load what :func:`inherit` loads, in a zygote, and keep it for the forked kernels: each
    rebuilds for itself, after the fork."""
    import contextlib
    import io

    global _PRELOADED
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        loaded, report = _load(parents, ns, verified)
    _PRELOADED = ([tuple(p) for p in parents], ns, loaded, report, err.getvalue())
    return report


#: Set to ``off`` in a kernel's environment, snapshots share no chunk (the store benchmark's baseline).
SHARING_ENV = "NBGRAPH_SHARING"


def save(dest: str, exclude: Sequence[str] = (), strict: bool = False, seal: bool = False, *,
         objects: str | None = None, ns: MutableMapping[str, Any] | None = None, rebuild: bool = True) -> None:
    """Snapshot ``ns`` (default: the caller's globals, the user namespace) for this variant's
    children, with the history that made it, and report what was left out.

    ``objects``: the build location's chunk store, shared by every snapshot of it.
    Unsealed by default: the runner binds it to the variant once this kernel is done
    (see ``snapshot.manifest``).  ``strict``: fail on a variable that can be neither copied
    nor (with ``rebuild``) rebuilt by a child.
    """
    import os

    from ..snapshot.format import dump_namespace
    from . import history

    if ns is None:
        ns = sys._getframe(1).f_globals
    share = os.environ.get(SHARING_ENV) != "off"
    made = history.finish(ns)
    report = dump_namespace(ns, dest, exclude=exclude, strict=strict and not rebuild, seal=seal,
                            objects=objects if share else None, share=share, history=made)
    if strict and rebuild and report.skipped:
        _strict_rebuildable(dest, report, made)
    size, new = report.size / 1e6, report.written / 1e6
    shared = f", {size - new:.1f} MB of it shared with its parents" if size - new >= 0.05 else ""
    lines = [f"nbgraph: saved {len(report.variables)} variables ({size:.1f} MB{shared}) "
             "for the notebooks that inherit from this one"]
    lines += _left_out("not saved", report.skipped)
    print("\n".join(lines), file=sys.stdout)


def _strict_rebuildable(dest: str, report: Any, made: dict[str, Any]) -> None:
    """``strict``: refuse (and remove) the snapshot if a child could not rebuild a variable it lacks."""
    import shutil

    from ..errors import SnapshotError
    from .rebuild import unrebuildable

    refused = unrebuildable(report.skipped, made, lambda n: n in report.variables,
                            lambda n: report.variables.get(n) == "module")
    if refused:
        shutil.rmtree(dest, ignore_errors=True)
        name, why = next(iter(refused.items()))
        raise SnapshotError(f"strict mode: cannot snapshot or rebuild {', '.join(refused)} ({name}: not copied, "
                            f"and a child could not rebuild it: {why}); delete them before the notebook ends "
                            "(del ...) or list them in the node's 'exclude'", variables=list(refused))


def _left_out(verb: str, skipped: list[dict[str, str]]) -> list[str]:
    lines = [f"  {verb}: {s['name']} ({s['type']}): {s['reason']}" for s in skipped[:SHOWN]]
    if len(skipped) > SHOWN:
        lines.append(f"  ... and {len(skipped) - SHOWN} more")
    return lines
