"""``nbgraph logs VARIANT [--follow]``: one variant's live output log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..errors import SelectionError, StoreError
from ..graph import one_variant, run_graph
from ..kernels.logs import follow as follow_file
from ..kernels.logs import live_log_path
from ..build.lock import is_locked
from ..build.records import SKIPPED, BuildLayout
from ..spec import load_spec
from ..build.location import open_store


def show_log(spec_path: str | Path, query: str, *, follow: bool, write: Callable[[str], object]) -> None:
    """Write the variant's log; with ``follow``, keep writing until no run holds the build folder."""
    spec = load_spec(spec_path)
    rg = run_graph(spec)
    variant = one_variant(rg, query, spec)
    path = BuildLayout.for_spec(spec).log_path(variant, spec.nodes[variant.node].path)
    live = live_log_path(path)  # the running variant's, until it ends
    store = open_store(spec.build_location, spec.storage_options, root=spec.build_dir)

    def refresh() -> None:
        if store.remote:
            for log in (path, live):
                try:
                    store.fetch(store.ref(log))
                except StoreError:
                    if log == live:  # the variant ended: its log is the one to show
                        live.unlink(missing_ok=True)

    def running() -> bool:
        refresh()
        return is_locked(spec.build_dir)

    refresh()
    if not follow:
        if live.exists() and is_locked(spec.build_dir):  # it is running: what it wrote so far
            write(live.read_text(encoding="utf-8", errors="replace"))
            return
        if not path.exists():
            record = BuildLayout.for_spec(spec).read_record(variant)
            if record is not None and record.status == SKIPPED:  # a parent failed: its log says why
                why = record.why_not.message if record.why_not else "a parent failed"
                raise SelectionError(f"{variant.name} has no log: it was skipped in the last run ({why})",
                                     variant=variant.name)
            raise SelectionError(f"{variant.name} has no log yet: it has not run ('nbgraph run' starts it)",
                                 variant=variant.name)
        write(path.read_text(encoding="utf-8", errors="replace"))
        return
    while not (path.exists() or live.exists()):
        if not running():
            raise SelectionError(f"{variant.name} has no log yet and no run is in progress", variant=variant.name)
        time.sleep(0.25)
    for chunk in follow_file(path, running):
        write(chunk)

