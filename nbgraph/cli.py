"""The ``nbgraph`` command: parse arguments, call the library, map errors to exit codes.

Exit codes: 0 success, 1 a notebook failed, 2 bad input before anything ran,
3 nbgraph itself failed, 130 interrupted.  ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

# jsonschema's IRI format check imports rfc3987_syntax, which builds a parser at import
# time (~1.5 s); nbgraph never validates IRIs, so keep the command's start-up fast.
sys.modules.setdefault("rfc3987_syntax", None)

import click  # noqa: E402

from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, NbgraphError  # noqa: E402
from .spec import DEFAULT_SPEC  # noqa: E402

SPEC_ARG = click.argument("spec", required=False, default=DEFAULT_SPEC, type=click.Path(dir_okay=True, path_type=Path))


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def handle_errors(fn):
    """Turn nbgraph's errors into one line and an exit code; --debug re-raises."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except NbgraphError as e:
            if debug:
                raise
            click.echo(f"nbgraph: error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("nbgraph: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as e:
            if debug:
                raise
            click.echo(f"nbgraph: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.version_option(package_name="nbgraph")
def main(debug: bool) -> None:
    """Notebooks that inherit their parents' kernel state, run as a graph."""


@main.command()
@SPEC_ARG
@click.option("--only", "only", multiple=True, metavar="NODE", help="Run only this node's variants (repeatable); parents' snapshots are reused.")
@click.option("--force", is_flag=True, help="Re-execute even what is up to date.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Variants to run at once (default: number of cores).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, help="Seconds per cell for nodes without their own timeout.")
@click.option("--strict", is_flag=True, help="Fail a variant whose state has a variable that cannot be snapshotted.")
@click.option("--dry-run", is_flag=True, help="List what would run and why, and run nothing.")
@handle_errors
def run(spec: Path, only, force, jobs, timeout, strict, dry_run) -> None:
    """Run every stale notebook of the graph SPEC (default: ./inheritance.yaml)."""
    from .report.terminal import make_events, print_summary

    from . import runner
    from .plan import make_plan
    from .spec import load_spec

    loaded = load_spec(spec)
    if dry_run:
        plan = make_plan(loaded, force=force, only=only)
        todo = plan.to_run
        for item in plan.items:
            if item.node.attach and item.selected:
                click.echo(f"would snapshot  {item.variant.name}  (attach: true; its live kernel)")
        for item in todo:
            click.echo(f"would run  {item.variant.name}  ({item.decision.reason})")
        click.echo(f"{len(todo)} of {len(plan.items)} variants would run")
        return
    console = _console()
    with make_events(console) as events:
        result = runner.run(loaded, only=only, force=force, jobs=jobs, timeout=timeout, strict=strict, events=events)
    print_summary(console, result)
    if not result.ok:
        sys.exit(1)


@main.command()
@SPEC_ARG
@handle_errors
def validate(spec: Path) -> None:
    """Check SPEC and its notebooks without running anything."""
    from .graph import run_graph
    from .spec import load_spec

    loaded = load_spec(spec)
    rg = run_graph(loaded)
    click.echo(f"{loaded.file.name}: OK, {len(loaded.nodes)} notebooks, {rg.number_of_nodes()} variants")


@main.command()
@SPEC_ARG
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per variant.")
@handle_errors
def status(spec: Path, as_json: bool) -> None:
    """What ran, what failed, and what the next run would execute and why."""
    from .plan import make_plan
    from .report.status import status_rows
    from .spec import load_spec

    rows = status_rows(make_plan(load_spec(spec)))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from .report.terminal import print_status

    print_status(_console(), rows)


if __name__ == "__main__":  # pragma: no cover
    main()
