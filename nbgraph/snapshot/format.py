"""Write a snapshot: a folder holding the pickled namespace and a signed manifest.

Reading is in :mod:`.loader`, sealing and binding in :mod:`.seal` (re-exported here:
this module is the snapshot API).

Layout of a snapshot folder (mode 0700, files 0600, written under a temporary name
and renamed into place)::

    manifest.json   signed: versions, variables, skipped, the stream's sha256, per buffer
                    its chunks' names, where the chunk store is, binding (see .manifest),
                    the installed modules the variables come from
    state.pkl       the variables, one pickle per variable, all sharing one memo

Large out-of-band buffers go to a chunk store shared by every snapshot of the build
location (``objects``, see .chunks); a snapshot written outside a build keeps its own,
inside its folder.

Never all-or-nothing, yet one memo: every variable is pickled by the same pickler
into the same stream, so an object reached from two variables is written once and
``alias is arr`` holds in the child.  When a variable fails, the stream, the buffers
file and the pickler's memo are rolled back to where that variable started (the memo
entries it added are exactly those numbered from its first one, a marker list pickled
first), then dill is tried for that variable alone; if that fails too it is skipped
and reported.  Kinds never worth pickling are skipped before any of this.  Rolling
back walks the whole memo, so it costs time only when a variable fails; a successful
dump never walks it.

Nothing is fsync'ed: the run record is the commit point, a chunk is renamed into place
only once whole, and a torn file fails its size or hash check.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
import platform
import re
import shutil
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import SnapshotError
from . import sign
from .loader import gc_paused, load_snapshot, load_with_manifest, one_line
from .manifest import FORMAT_VERSION, MANIFEST, STATE, STREAM, binding, read_manifest
from .seal import bind_snapshot, finish_digests, seal_snapshot
from .stream import HashSink, PickleStream

__all__ = ["FORMAT_VERSION", "DumpReport", "dump_namespace", "load_snapshot", "load_with_manifest",
           "read_manifest", "seal_snapshot", "bind_snapshot", "binding", "select_variables", "is_kernel_internal",
           "MANIFEST", "STATE", "STREAM"]

#: Names IPython and ipykernel put in the user namespace; never inherited.
KERNEL_NAMES = frozenset({
    "In", "Out", "get_ipython", "exit", "quit", "open", "_", "__", "___", "_i", "_ii", "_iii",
    "_ih", "_oh", "_dh", "_sh", "__builtin__", "__builtins__",
})
_KERNEL_NAME_RE = re.compile(r"^(_i\d+|_\d+|__\w+__)$")
#: A variable whose stream part is larger than this gets no content digest (it would cost a second pass).
_DIGEST_LIMIT = 1 << 20


@dataclass
class DumpReport:
    """What a snapshot holds and what it left out (name, type, reason)."""

    path: str
    variables: dict[str, str] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    size: int = 0
    #: bytes of buffers this dump could not name from chunks it inherited untouched
    written: int = 0


def is_kernel_internal(name: str) -> bool:
    """Names IPython and ipykernel keep in the user namespace (history, output cache, helpers)."""
    return name in KERNEL_NAMES or bool(_KERNEL_NAME_RE.match(name))


def select_variables(ns: Mapping[str, Any], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The user's variables: not IPython's own, not excluded."""
    excluded = set(exclude)
    return {k: v for k, v in ns.items() if not is_kernel_internal(k) and k not in excluded}


def type_name(value: Any) -> str:
    """The type as users read it in reports: ``Model``, ``int``, ``pandas.core.frame.DataFrame``."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def _skip(name: str, value: Any, reason: str) -> dict[str, str]:
    return {"name": name, "type": type_name(value), "reason": reason}


def dump_namespace(ns: Mapping[str, Any], dest: Path, *, exclude: Iterable[str] = (),
                   strict: bool = False, seal: bool = True, objects: Path | None = None,
                   share: bool = True, history: Mapping[str, Any] | None = None) -> DumpReport:
    """Pickle the user's variables of ``ns`` into the snapshot folder ``dest`` (atomically).

    A variable that cannot be pickled is skipped and reported; with ``strict`` any skip
    raises :class:`SnapshotError` and nothing is written.  ``seal=False`` leaves the
    check of chunks this dump referenced without writing, and the binding, to
    :func:`seal_snapshot` (the runner does it once the kernel is done).  ``objects``: the
    build location's chunk store (default: one of the snapshot's own).  ``share=False``
    names no chunk from mapped pages (every buffer is hashed and written): the benchmark's
    baseline.  ``history``: the cells that made this state (``notebook.history``), signed in
    with the rest, so a child can rebuild what was skipped from the parent's own statements.
    """
    from .skips import skip_reason

    dest = Path(dest)
    report = DumpReport(path=str(dest))
    candidates = select_variables(ns, exclude)
    todo: dict[str, Any] = {}
    for name, value in candidates.items():
        reason = skip_reason(value)
        if reason is not None:
            report.skipped.append(_skip(name, value, reason))
        else:
            todo[name] = value
    _check_strict(strict, report)

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        store = Path(objects) if objects is not None else tmp / "objects"
        manifest = _pickle_variables(ns, todo, tmp, report, strict=strict, seal=seal, objects=store, share=share)
        manifest["objects"] = os.path.relpath(objects, dest) if objects is not None else "objects"
        if history:
            manifest["history"] = dict(history)
        _write_manifest(tmp, manifest)
        os.chmod(tmp, 0o700)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _pickle_variables(ns: Mapping[str, Any], todo: dict[str, Any], tmp: Path, report: DumpReport, *,
                      strict: bool, seal: bool, objects: Path, share: bool) -> dict[str, Any]:
    """Write ``todo``'s pickle stream into ``tmp`` and its buffers' chunks into ``objects``;
    the manifest (unsigned) that describes them."""
    from .chunks import ChunkWriter
    from .pickler import array_roots, pickler_class

    stream = PickleStream(tmp / STATE)
    buffers = ChunkWriter(objects, share=share)
    closed = False
    try:
        pickler_type = pickler_class(ns, array_roots(list(todo.values())))
        pickler = pickler_type(stream, protocol=5, buffer_callback=buffers)
        token = os.urandom(8).hex()
        entries = []
        with gc_paused():
            for name, value in todo.items():
                entry, reason = _dump_one(pickler, stream, buffers, name, value, [len(entries), token])
                if entry is None:
                    report.skipped.append(_skip(name, value, reason))
                    continue
                entry["digest_of"] = _digest_parts(pickler_type, value, entry, buffers)
                entries.append(entry)
        _check_strict(strict, report)
        del pickler
        stream_size, stream_sha = stream.size, stream.hash.hexdigest()
        buffers.close()
        closed = True
    finally:
        stream.close()
        if not closed:
            buffers.abandon()
    finish_digests(entries, buffers.entries)
    if seal:
        from . import checked

        checked.trust(objects, buffers.wrote)  # named from the very bytes this process wrote
    report.variables = {e["name"]: e["type"] for e in entries}
    report.size = stream_size + sum(e[0] for e in buffers.entries)
    report.written = sum(e[0] for e in buffers.entries) - buffers.reused_bytes
    return {
        "format": FORMAT_VERSION,
        "python": platform.python_version(),
        **_library_versions(),
        "variables": report.variables,
        "skipped": report.skipped,
        "entries": entries,
        "token": token,
        "files": {STATE: {"size": stream_size, "sha256": stream_sha}},
        "buffers": buffers.entries,
        "wrote": sorted(buffers.wrote),
        "sealed": seal,
        "size": report.size,
        "modules": defining_modules(todo[e["name"]] for e in entries),
    }


def defining_modules(values: Iterable[Any]) -> list[str]:
    """The installed modules these values come from (a module itself, a function's or class's
    module, an instance's type's; one level into dicts, lists and tuples): what loading them
    imports first.  A run's zygotes import them while the parent that rewrites the snapshot
    still runs (``kernels.fork.imports.ahead_of``)."""
    from ..notebook.uses import installed_modules

    names: dict[str, None] = {}

    def add(value: Any) -> None:
        if isinstance(value, types.ModuleType):
            name = value.__name__
        elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
            name = getattr(value, "__module__", None)
        else:
            name = type(value).__module__
        if isinstance(name, str) and name not in ("builtins", "__main__"):
            names.setdefault(name)

    for value in values:
        add(value)
        if isinstance(value, dict):
            for item in itertools.islice(value.values(), 100):
                add(item)
        elif isinstance(value, (list, tuple)):
            for item in value[:100]:
                add(item)
    return installed_modules(names)


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """The signed manifest, readable by its owner only (it vouches for code)."""
    import json

    fd = os.open(folder / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(json.dumps(sign.sign(manifest), indent=1, sort_keys=True).encode())


def _check_strict(strict: bool, report: DumpReport) -> None:
    if strict and report.skipped:
        first = report.skipped[0]
        names = ", ".join(s["name"] for s in report.skipped)
        raise SnapshotError(
            f"strict mode: cannot snapshot {names} ({first['name']}: {first['reason']}); "
            "delete them before the notebook ends (del ...) or list them in the node's 'exclude'",
            variables=[s["name"] for s in report.skipped])


def _dump_one(pickler, stream: PickleStream, buffers, name: str, value: Any, marker: list):
    """Pickle one variable into the shared stream; roll back and try dill if it fails.

    ``(marker, value)`` is pickled: the marker list is memoized first, so its memo
    number is where this variable's memo entries start (found only if it fails).
    """
    from .pickler import DillBlob, Unpicklable, dill_dumps

    start, first_buffer = stream.mark(), buffers.mark()
    kind = "pickle"
    try:
        pickler.dump((marker, value))
    except Unpicklable as e:
        _rollback(pickler, stream, buffers, start, first_buffer, marker)
        return None, f"holds an object that is not copied: {e.reason}"
    except Exception as e:
        _rollback(pickler, stream, buffers, start, first_buffer, marker)
        try:
            blob = DillBlob(dill_dumps(value))
        except Unpicklable as inner:
            return None, f"holds an object that is not copied: {inner.reason}"
        except Exception:
            return None, one_line(e)
        marker = list(marker)
        pickler.dump((marker, blob))
        kind = "dill"
    count = len(buffers.entries) - first_buffer
    entry = {
        "name": name, "type": type_name(value), "kind": kind,
        "start": start[0], "end": stream.size, "buffers": [first_buffer, count],
        "size": stream.size - start[0] + sum(e[0] for e in buffers.entries[first_buffer:]),
    }
    return entry, None


def _rollback(pickler, stream: PickleStream, buffers, start, first_buffer, marker: list) -> None:
    """Forget what the failed variable wrote and memoized (costs a pass over the memo)."""
    memo = pickler.memo.copy()
    found = memo.get(id(marker))
    if found is not None:
        first = found[0]
        pickler.memo = {k: v for k, v in memo.items() if v[0] < first}
    stream.rollback(start)
    buffers.rollback(first_buffer)


def _digest_parts(pickler_type: type, value: Any, entry: dict[str, Any], buffers) -> list[Any] | None:
    """What a digest of the variable's value alone is made of: ``[stream part, buffer numbers]``.

    Independent of what was pickled before it, so a child with several parents can
    report only names whose values differ.  It costs a second pickling pass over the
    variable's stream part (large object-heavy variables get none); its large buffers
    enter by number, their sha256 being known once the snapshot is sealed.
    """
    if entry["kind"] != "pickle" or entry["end"] - entry["start"] > _DIGEST_LIMIT:
        return None
    from .chunks import MIN_OUT_OF_BAND

    sink = HashSink()
    numbers: list[int] = []

    def name_buffer(buffer: pickle.PickleBuffer) -> bool:
        try:
            view = buffer.raw()
        except BufferError:
            return True
        if view.nbytes < MIN_OUT_OF_BAND:
            return True
        known = buffers.index_of.get(id(view.obj))
        if known and known[0] is view.obj:
            numbers.append(known[1])
        else:
            sink.write(hashlib.sha256(view).hexdigest().encode())
        return False

    try:
        pickler_type(sink, protocol=5, buffer_callback=name_buffer).dump(value)
    except Exception:
        return None
    return [sink.hash.hexdigest(), numbers]


def _library_versions() -> dict[str, str]:
    import cloudpickle

    versions = {"cloudpickle": cloudpickle.__version__}
    for name in ("dill", "numpy", "pandas"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    return versions
