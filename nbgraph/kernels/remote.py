"""One variant against a remote build location: fetch the inputs, run locally, publish.

Runs wherever the job runs (a Dask worker, or this machine).  Parents' snapshots are
downloaded into this machine's mirror of the location and verified there (signature and
sha256) before the kernel loads them, so signing and lazy local loading hold as for a
local build folder; the executed notebook, its log and the snapshot are published after.
While the variant runs, its live log is uploaded every few seconds, so ``nbgraph logs
--follow`` on another machine sees a long cell's output as it comes; it is removed from the
location when the variant ends (its log is then published under its own name).
"""


from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Callable

from ..errors import NbgraphError
from .job import Job, Outcome

#: seconds between uploads of a running variant's log
LOG_UPLOAD_INTERVAL = 5.0


def run_remote(job: Job, run_local: Callable[[Job], Outcome]) -> Outcome:
    from ..build.location import open_store
    from .logs import live_log_path, log_path

    started = time.monotonic()
    store = open_store(job.store, job.storage_options)
    try:
        inherit = tuple((name, str(store.fetch(ref))) for name, ref in job.inherit)
    except NbgraphError as e:
        return Outcome(variant=job.variant, ok=False, output=None, error=str(e), duration=time.monotonic() - started)
    local_job = dataclasses.replace(
        job, store=None, inherit=inherit, output=str(store.local(job.output)),
        snapshot=str(store.local(job.snapshot)) if job.snapshot else None,
        objects=str(store.local(job.objects)) if job.objects else None)
    out = Path(local_job.output)
    stop = threading.Event()
    live = live_log_path(log_path(out))
    uploader = threading.Thread(target=_publish_while_running, args=(store, live, stop),
                                name=f"nbgraph-log-{job.variant}", daemon=True)
    uploader.start()
    try:
        outcome = run_local(local_job)
    finally:
        stop.set()
        uploader.join()
        try:
            store.remove(store.ref(live))
        except (NbgraphError, OSError):
            pass  # a stale live log is only shown while a run holds the location
    try:
        from .results import RESULTS_FILE

        for path in (log_path(out), out.with_name(RESULTS_FILE), out):
            if path.exists():
                store.publish(path)
        if outcome.snapshot:
            store.publish(Path(outcome.snapshot))
    except NbgraphError as e:
        outcome.ok, outcome.error = False, str(e)
    outcome.output = store.ref(outcome.output) if outcome.output else None
    outcome.snapshot = store.ref(outcome.snapshot) if outcome.snapshot else None
    return outcome


def _publish_while_running(store, log: Path, stop: threading.Event) -> None:
    published = -1
    while not stop.wait(LOG_UPLOAD_INTERVAL):
        try:
            size = log.stat().st_size
            if size != published:
                store.publish(log)
                published = size
        except (OSError, NbgraphError):
            pass  # the final upload after the run reports real errors
