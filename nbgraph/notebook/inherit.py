"""``inherit_from``: start a notebook from the state of another one, in JupyterLab.

Two kinds of parents:

* a notebook open in a running Jupyter server (``inherit_from("base.ipynb")``): its live
  kernel is asked to dump its state (see :mod:`nbgraph.live`), and the copy is loaded
  here; the parent keeps running untouched and nothing is shared;
* a node or variant of a graph (``inherit_from("train[model=ridge]", spec="inheritance.yaml")``):
  the snapshots its parents handed it in the last run, plus its own parameters, i.e. the
  exact state it started from, to replay a failed variant cell by cell.

Under ``nbgraph run`` the same call does nothing but say so, because nbgraph already
injected the parents' state: one notebook works both in JupyterLab and in the graph.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, MutableMapping

from ..errors import LiveError, SelectionError
from . import UNDER_RUN_ENV
from .provenance import Inherited, Source, collisions

DEFAULT_TIMEOUT = 120.0


def inherit_from(
    *notebooks: str | os.PathLike,
    spec: str | os.PathLike | None = None,
    server: str | None = None,
    token: str | None = None,
    into: MutableMapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    exclude: Iterable[str] = (),
    rebuild: bool = True,
) -> Inherited:
    """Copy the state of one or more parents into this kernel (or ``into``); later parents win.

    ``notebooks`` are notebook paths (absolute, relative to this notebook's folder, or to
    the server's root), or with ``spec`` node/variant names of that graph.  ``server``
    (a URL) and ``token`` pick one server explicitly; ``timeout`` bounds the wait for a
    busy parent plus its dump; ``exclude`` names variables not to copy from live parents.
    ``rebuild``: rebuild what a snapshot could not copy from the parents' recorded statements,
    as a graph run does (a live parent records none: what it could not copy is named).
    """
    if not notebooks:
        raise TypeError("inherit_from() needs at least one notebook, e.g. inherit_from('base.ipynb')")
    if into is None:
        injected = _injected_by_nbgraph()
        if injected:
            return Inherited(injected_by=injected)
        if os.environ.get(UNDER_RUN_ENV) and spec is None:
            raise SelectionError("this notebook runs under nbgraph run as a node without parents, so inherit_from "
                                 "has nothing to use: declare its parent in inheritance.yaml (parent: <node>) "
                                 "instead of a live kernel")
        into = kernel_namespace()
    if spec is not None:
        from .replay import variant_sources

        sources, params, notes = variant_sources([os.fspath(n) for n in notebooks], spec)
        return load_sources(sources, into, params=params, notes=notes, rebuild=rebuild)
    sources = live_sources([os.fspath(n) for n in notebooks], server=server, token=token, timeout=timeout,
                           exclude=tuple(exclude))
    summary = load_sources(sources, into, rebuild=rebuild)
    from ..live import scratch

    for source in sources:
        scratch.forget_older(Path(source.snapshot))
    return summary


def live_sources(notebooks: list[str], *, server: str | None, token: str | None, timeout: float,
                 exclude: tuple[str, ...]) -> list[Source]:
    """Dump every parent first, so that one failing parent loads nothing at all."""
    from ..live import scratch, servers
    from ..live.kernel import dump_live
    from ..snapshot import sign

    for name in notebooks:
        if not name.endswith(".ipynb") and ("[" in name or "/" not in name and "." not in name):
            raise _selection_error(name)
    listed = servers.list_servers()
    candidates = [servers.explicit_server(server, token, listed)] if server else listed
    own = own_kernel_id()
    key_file = str(sign.key_path())
    sign.signing_key()
    found = []
    for name in notebooks:
        session = servers.find_session(name, candidates, cwd=Path.cwd(), explicit=bool(server))
        if own and session.kernel_id == own:
            raise LiveError(f"{name} runs in this very kernel; inherit_from needs another notebook's kernel "
                            "(open the parent in its own tab, with its own kernel)", notebook=name)
        found.append((name, session))
    sources: list[Source] = []
    for name, session in found:
        dest = scratch.new_dest(session.kernel_id)
        try:
            reply = dump_live(session, dest, exclude=exclude, key_file=key_file, timeout=timeout,
                              objects=scratch.objects_dir())
        except BaseException:  # nothing will be loaded: drop the dumps made so far
            for done in [*sources, Source(name=name, snapshot=str(dest))]:
                scratch.forget(Path(done.snapshot))
            raise
        at = f", In [{reply.execution_count}]" if reply.execution_count else ""
        sources.append(Source(name=session.path, snapshot=str(dest),
                              detail=f"live kernel {session.kernel_id[:8]} on {session.server.url}{at}, "
                                     f"dumped in {reply.seconds:.1f} s", live=True))
    return sources


def load_sources(sources: list[Source], into: MutableMapping[str, Any], *, params: dict[str, Any] | None = None,
                 notes: list[str] | None = None, rebuild: bool = True) -> Inherited:
    """Verify every snapshot, then load each into ``into`` in order (later wins), rebuild what
    they could not copy (as the run's injected cell does), then set ``params``.

    A name defined by several parents is a collision when their values differ (or when
    a value has no content digest to compare).
    """
    from ..snapshot.format import is_kernel_internal, load_with_manifest, read_manifest

    summary = Inherited(sources=list(sources), params=dict(params or {}), notes=list(notes or []))
    before = {k for k in into if not is_kernel_internal(k)}
    defined: list[tuple[str, dict[str, str | None]]] = []
    from ..errors import SnapshotError
    from ..snapshot.format import seal_snapshot

    def expect(source: Source) -> dict[str, Any] | None:  # a graph variant's: the snapshot its record names
        return dict(source.bound_to) if source.bound_to is not None else None

    for source in sources:  # every byte checked (once per machine) before anything is unpickled
        try:  # a live parent left its buffers to hash here: sealing them is their full check
            if source.live:
                seal_snapshot(Path(source.snapshot))
            else:
                read_manifest(Path(source.snapshot), expect=expect(source))
        except SnapshotError as e:
            if not source.live:
                raise
            from ..live.kernel import refused_dump
            from ..live.scratch import forget

            for dumped in sources:
                forget(Path(dumped.snapshot))
            raise refused_dump(e, source.name) from None
    loaded = []
    for source in sources:
        failed: list[dict[str, str]] = []
        manifest, state = load_with_manifest(Path(source.snapshot), into, verify_buffers=False, failed=failed,
                                             expect=expect(source))
        loaded.append((source.name, manifest, failed))
        types = manifest.get("variables", {})
        digests = {e.get("name"): e.get("digest") for e in manifest.get("entries", [])}
        defined.append((source.name, {name: digests.get(name) for name in state}))
        for name in state:
            summary.variables.pop(name, None)
            summary.variables[name] = (str(types.get(name, type(state[name]).__name__)), source.name)
    from .rebuild import rebuild as rebuild_into

    done = rebuild_into(into, loaded, enabled=rebuild)
    summary.rebuilt, summary.rebuild_seconds = done.rebuilt, done.seconds
    summary.skipped = [{k: str(m[k]) for k in ("name", "type", "reason", "source")} for m in done.not_inherited]
    summary.collisions = collisions(defined)
    summary.replaced = sorted({n for _, names in defined for n in names} & before)
    if summary.params:
        into.update(summary.params)
    return summary


def kernel_namespace() -> MutableMapping[str, Any]:
    """The user namespace of the running IPython kernel, else ``__main__``'s globals."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        shell = ipython.get_ipython()
        if shell is not None:
            return shell.user_ns
    return sys.modules["__main__"].__dict__


def own_kernel_id() -> str | None:
    """This kernel's id, from its connection file name (``kernel-<id>.json``), if it has one."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.kernelapp import IPKernelApp

        if not IPKernelApp.initialized():
            return None
        name = Path(IPKernelApp.instance().connection_file).name
    except Exception:  # not in a kernel started the usual way: nothing to compare with
        return None
    if name.startswith("kernel-") and name.endswith(".json"):
        return name[len("kernel-"):-len(".json")]
    return None


def _injected_by_nbgraph() -> list[str]:
    from . import inject

    return list(inject.INJECTED)


def _selection_error(name: str) -> SelectionError:
    guess = "" if "[" in name else f" (did you mean '{name}.ipynb'?)"
    return SelectionError(f"{name!r} is not a notebook path{guess}; to start from the state of a graph node or variant, "
                          f"pass its spec: inherit_from({name!r}, spec='inheritance.yaml')", variant=name)
