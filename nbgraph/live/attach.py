"""``attach: true`` nodes: a graph parent whose state comes from its notebook's live kernel.

nbgraph never executes an attached notebook; at the start of a run that selects it
(before any notebook runs), it asks the notebook's live kernel for a snapshot, exactly
as ``inherit_from`` does, stores it in the build folder (bound, like a run's snapshot, to
the variant, its key and the dump that made it) and passes it down like any other
snapshot.  The record says which server, kernel and execution count it came from.

When is it stale?  A live kernel can change at any moment and nothing outside it can
tell, so an attached node is re-snapshotted on every run.  Its key is the content
digest of that snapshot: if the live state is the same as last time, the key is the
same and its children stay up to date; if anything changed, they re-run ("parent's
result changed").  ``nbgraph status`` and ``--dry-run`` cannot look inside the kernel:
they judge the children against the last snapshot taken.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import digest, key_of
from ..errors import LiveError, SnapshotError
from ..fsutil import make_dirs
from ..graph import Variant
from ..build.records import SUCCEEDED, Record
from ..snapshot.format import FORMAT_VERSION, MANIFEST, bind_snapshot, binding, seal_snapshot
from ..spec import NodeSpec, Spec
from ..states import Status
from . import servers
from .kernel import dump_live, refused_dump

if TYPE_CHECKING:
    from ..build.commit import Build
    from ..plan import Plan

DEFAULT_TIMEOUT = 120.0
OUTCOME = Status.ATTACHED


@dataclass(frozen=True)
class Attached:
    """One attached node after its refresh: its new record, and whether its state changed."""

    variant: Variant
    record: Record
    changed: bool
    first: bool = False

    def describe(self) -> str:
        src = self.record.attached or {}
        at = f", In [{src['execution_count']}]" if src.get("execution_count") else ""
        what = "first snapshot" if self.first else "live state changed" if self.changed else "live state unchanged"
        n = len(self.variables)
        return (f"{self.variant.name}: snapshot of the live kernel {str(src.get('kernel', ''))[:8]} of "
                f"{src.get('notebook')} on {src.get('server')}{at} ({what}, {n} variable{'' if n == 1 else 's'})")

    @property
    def variables(self) -> dict[str, str]:
        return dict((self.record.attached or {}).get("variables", {}))


def attached_nodes(spec: Spec, only=None) -> list[NodeSpec]:
    wanted = set(only or ())
    return [n for n in spec.nodes.values() if n.attach and (not wanted or n.name in wanted)]


def refresh(plan: Plan, build: Build, *, strict: bool = False) -> list[Attached]:
    """Snapshot the live kernel of every selected attached node, and commit each record.

    Every notebook is located first, so one that is not open stops the run before
    anything is written.  The kernel writes under the local build folder; the build
    publishes the snapshot and commits its record as it does for a variant that ran
    (to a remote build location too, where workers read them).
    ``strict`` (or the node's own ``strict``): a variable that cannot be copied fails the run.
    """
    spec = plan.spec
    nodes = attached_nodes(spec, plan.only)
    if not nodes:
        return []
    from ..snapshot import sign

    listed = servers.list_servers()
    found = []
    for node in nodes:
        try:
            found.append((node, servers.find_session(node.path, listed, arguments=False)))
        except LiveError as e:
            raise _for_node(e, node) from None
    key_file = str(sign.key_path())
    out = []
    for node, session in found:
        variant = plan.graph.nodes[node.name]["variant"]
        try:
            out.append(_refresh_one(plan, build, node, variant, session, key_file,
                                    strict or bool(getattr(node, "strict", False))))
        except LiveError as e:
            raise _for_node(e, node) from None
    return out


def _refresh_one(plan: Plan, build: Build, node: NodeSpec, variant: Variant,
                 session: servers.Session, key_file: str, strict: bool) -> Attached:
    spec, layout, store = plan.spec, plan.layout, build.store
    folder = layout.variant_dir(variant)
    make_dirs(folder)
    tmp = folder / f".snapshot-live-{time.time_ns()}.partial"  # removed by clean_partials if a run is killed
    started = time.time()
    try:
        reply = dump_live(session, tmp, exclude=node.exclude, key_file=key_file, strict=strict,
                          timeout=spec.node_timeout(node) or DEFAULT_TIMEOUT, objects=layout.objects_dir)
        try:  # the kernel named its chunks as it wrote them; sealing checks what it only referenced
            manifest = seal_snapshot(tmp)
        except SnapshotError as e:  # no run of it produced this snapshot: say what to do instead
            raise refused_dump(e, session.path) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    parts = {"attached": content_digest(tmp, manifest), "format": FORMAT_VERSION}
    key = key_of(parts)
    final = layout.snapshot_dir(variant, key)
    old = layout.read_record(variant)
    unchanged = (old is not None and old.status == SUCCEEDED and old.key == key and old.snapshot == str(final)
                 and final.is_dir())
    run = old.run if unchanged else uuid.uuid4().hex  # the "run" of a dump: which one made it
    if unchanged:
        shutil.rmtree(tmp, ignore_errors=True)  # same content: keep the snapshot the children started from
    else:
        bind_snapshot(tmp, manifest, binding(variant.name, key, run))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        store.publish(final)
    for other in folder.glob("*snapshot-live-*"):  # leftovers of interrupted dumps
        if other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    checked = time.time()
    # same snapshot: it stays the result the children were built on (see cache.result_id)
    began, finished = (old.started, old.finished) if unchanged else (started, checked)
    record = Record(
        name=variant.name, node=variant.node, status=SUCCEEDED, key=key, key_parts=parts, params={},
        output=None, snapshot=str(final), started=began, finished=finished, duration=round(checked - started, 3),
        skipped=list(manifest.get("skipped", [])), parents=[],
        attached={"server": session.server.url, "kernel": session.kernel_id, "notebook": session.path,
                  "root_dir": session.server.root_dir, "execution_count": reply.execution_count,
                  "checked": checked, "variables": dict(manifest.get("variables", {}))},
        run=run,
    )
    build.write(variant, record)  # the commit point; older snapshots go after it
    return Attached(variant=variant, record=record, changed=not unchanged, first=old is None)


def content_digest(path: Path, manifest: dict) -> str:
    """sha256 of what a snapshot holds, equal for two dumps of the same state.

    With per-variable digests in the manifest (``entries``), those, plus for a variable
    too large to have one, its bytes in the stream (the dump's random ``token`` blanked)
    and its buffers' chunk names; else the signed per-file sha256s; else the files' bytes.
    """
    entries = manifest.get("entries")
    if isinstance(entries, list):
        return digest([[e.get("name"), e.get("digest") or _entry_bytes_digest(path, manifest, e)] for e in entries]
                    + [sorted(str(s.get("name")) for s in manifest.get("skipped", []))])
    files = manifest.get("files")
    if isinstance(files, dict) and files and all(isinstance(v, str) for v in files.values()):
        return digest(files)
    from ..snapshot.sign import file_sha256

    return digest({str(p.relative_to(path)): file_sha256(p) for p in sorted(path.rglob("*"))
                 if p.is_file() and p.name != MANIFEST})


def _entry_bytes_digest(path: Path, manifest: dict, entry: dict) -> str:
    from ..snapshot.format import STATE

    with open(path / STATE, "rb") as fh:
        fh.seek(int(entry["start"]))
        chunk = fh.read(int(entry["end"]) - int(entry["start"]))
    token = str(manifest.get("token") or "").encode()
    if token:
        chunk = chunk.replace(token, b"\0" * len(token))
    first, count = entry.get("buffers") or [0, 0]
    names = [b[1] for b in manifest.get("buffers", [])[first:first + count]]  # chunk names: their content
    return digest([hashlib.sha256(chunk).hexdigest(), names])


def _for_node(error: LiveError, node: NodeSpec) -> LiveError:
    """The same error, saying which node of the graph it is about and how to opt out."""
    message = (f"node '{node.name}' (attach: true): {error}; or remove 'attach: true' to run the notebook instead")
    return type(error)(message, **{**error.fields, "node": node.name})
