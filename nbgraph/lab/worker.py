"""One run started from the Lab panel: ``python -m nbgraph.lab.worker SPEC [--only N]... [--force]``.

It calls :func:`nbgraph.runner.run` exactly as ``nbgraph run`` does (same lock, records,
kernels and fork server) in a process of its own, so a run outlives no request, cannot
block the Jupyter server, and is stopped as a terminal run is: SIGINT (or SIGTERM) raises
KeyboardInterrupt in the runner, which kills its kernels and writes nothing half-done.
What happens is written to the original stdout as JSON lines, one event each (see
:class:`JsonEvents`); everything else the run prints goes to stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
from typing import Any, TextIO

from ..report.jsonout import finite

EXIT_INTERRUPTED = 130


class JsonEvents:
    """The scheduler's events as JSON lines: ``planned``, ``started``, ``finished``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def emit(self, event: str, **fields: Any) -> None:
        self.out.write(json.dumps(finite({"event": event, **fields}), default=str) + "\n")
        self.out.flush()

    def planned(self, total: int) -> None:
        self.emit("planned", total=total)

    def started(self, item) -> None:
        self.emit("started", variant=item.variant.name)

    def finished(self, item, record) -> None:
        self.emit("finished", variant=item.variant.name, status=str(record.status), error=record.error,
                  duration=record.duration)


def summary_lines(result) -> list[str]:
    """The lines ``nbgraph run`` prints at its end (counts, failures and where to look)."""
    from rich.console import Console

    from ..report.terminal import print_summary

    buffer = io.StringIO()
    print_summary(Console(file=buffer, width=100_000, highlight=False, soft_wrap=True), result)
    return [line.rstrip() for line in buffer.getvalue().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbgraph.lab.worker")
    parser.add_argument("spec")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    events = JsonEvents(os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8"))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints of the run never corrupt the event stream
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT may arrive ignored (a server started with &)
        signal.signal(signum, signal.default_int_handler)
    return run(args.spec, args.only, args.force, events)


def run(spec: str, only: list[str], force: bool, events: JsonEvents) -> int:
    """Run and report; the exit code is ``nbgraph run``'s (0, 1 a notebook failed, 2 bad input, 130)."""
    from ..errors import EXIT_INTERNAL, NbgraphError
    from ..runner import run as run_graph

    try:
        result = run_graph(spec, only=only or None, force=force, events=events)
    except KeyboardInterrupt:
        events.emit("interrupted")
        return EXIT_INTERRUPTED
    except NbgraphError as e:
        events.emit("error", kind=type(e).__name__, message=str(e))
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - reported as the CLI reports it, with the same exit code
        events.emit("error", kind="internal", message=f"internal error: {type(e).__name__}: {e}")
        return EXIT_INTERNAL
    outcome = {name: str(o) for name, o in result.outcome.items()}
    events.emit("done", ok=result.ok, outcome=outcome, summary=summary_lines(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
