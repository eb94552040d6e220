"""The ``nbgraph`` command: parse arguments, call the library, print what it returns.

Errors become one line and a documented exit code in :mod:`nbgraph.command` (0 success,
1 a notebook failed, 2 bad input, 3 nbgraph itself failed, 130 interrupted, 141 pipe closed).
"""

from __future__ import annotations

import sys
from pathlib import Path

# jsonschema's IRI format check imports rfc3987_syntax, which builds a parser at import
# time (~1.5 s); nbgraph never validates IRIs, so keep the command's start-up fast.
sys.modules.setdefault("rfc3987_syntax", None)

import click  # noqa: E402

from .command import SPEC_ARG, Seconds, console, handle_errors, opened  # noqa: E402
from .errors import NbgraphError, SelectionError  # noqa: E402
from .extras import DISTRIBUTION  # noqa: E402
from .spec import DEFAULT_SPEC  # noqa: E402


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.version_option(package_name=DISTRIBUTION, prog_name="nbgraph")
def main(debug: bool) -> None:
    """Notebooks that inherit their parents' kernel state, run as a graph."""


def entry() -> None:
    """The ``nbgraph`` command: :func:`main`, then an exit that skips tearing the interpreter's
    heap down (``procs.exit_now``): a tenth of a second or more off every command; papermill
    without the S3 and Azure readers nbgraph never uses (boto3: 0.1 s off a run's start)."""
    from .kernels.execute import without_remote_readers
    from .procs import exit_now

    without_remote_readers()
    try:
        main(prog_name="nbgraph")
    except SystemExit as e:
        if isinstance(e.code, str):  # as the interpreter would: the message, then 1
            print(e.code, file=sys.stderr)
        exit_now(e.code if isinstance(e.code, int) else (0 if e.code is None else 1))
    exit_now(0)


@main.command()
@SPEC_ARG
@click.option("--only", "only", multiple=True, metavar="NODE", help="Run only this node's variants (repeatable); parents' snapshots are reused.")
@click.option("--force", is_flag=True, help="Re-execute even what is up to date.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Variants to run at once (default: number of cores).")
@click.option("--timeout", type=Seconds(), default=None, help="Seconds per cell for nodes without their own timeout.")
@click.option("--strict", is_flag=True, help="Fail a variant whose state has a variable that can be neither copied nor rebuilt.")
@click.option("--no-rebuild", is_flag=True, help="Do not rebuild, in the children, what their parents' snapshots could not copy.")
@click.option("--dry-run", is_flag=True, help="List what would run and why, and run nothing.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default=None,
              help="Where variants run (default: the YAML's 'executor', else local).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Dask scheduler address for --executor dask (default: the YAML's 'scheduler', else a local cluster).")
@click.option("--log-output", is_flag=True, help="Also stream every variant's cell output here, prefixed with its name.")
@click.option("--no-fork", is_flag=True, help="Start every child in a fresh kernel instead of forking it from its parent's state.")
@handle_errors
def run(spec: Path, only, force, jobs, timeout, strict, no_rebuild, dry_run, executor, scheduler, log_output,
        no_fork) -> None:
    """Run every stale notebook of the graph SPEC (default: ./inheritance.yaml)."""
    from .spec import load_spec

    if not dry_run:
        _zygote_early(no_fork, executor)
    loaded = load_spec(spec)
    if not dry_run:
        _end_early_zygote_unless_forking(loaded, executor)

    from .report.terminal import OutputPrinter, make_events, print_summary

    from . import runner
    from .plan import make_plan

    if dry_run:
        runner.open_build(loaded, create=False)
        runner.check_owner(loaded)
        plan = make_plan(loaded, force=force, only=only)
        todo = plan.to_run
        for item in plan.items:
            if item.node.attach and item.selected:
                click.echo(f"would snapshot  {item.variant.name}  (attach: true; its live kernel)")
        for item in todo:
            click.echo(f"would run  {item.variant.name}  ({item.decision.reason})")
        click.echo(f"{len(todo)} of {len(plan.items)} variants would run")
        return
    if scheduler and (executor or loaded.executor) == "local":
        raise NbgraphError("--scheduler needs the dask executor: add --executor dask (or 'executor: dask' in the YAML)")
    if scheduler and not executor:
        executor = "dask"
    out = console()
    _terminate_as_interrupt()
    printer = OutputPrinter(out) if log_output else None
    with make_events(out) as events:
        try:
            result = runner.run(loaded, only=only, force=force, jobs=jobs, timeout=timeout, strict=strict,
                                events=events, executor=executor, scheduler=scheduler, log_output=printer,
                                fork=False if no_fork else None, rebuild=not no_rebuild)
        finally:
            if printer is not None:
                printer.flush()
    print_summary(out, result)
    if not result.ok:
        sys.exit(1)


def _zygote_early(no_fork: bool, executor: str | None) -> None:
    """Start a zygote importing now, while this process still reads the spec, imports, plans and
    looks kernels up: the run's first forked kernel then waits for none of that (see
    ``kernels.fork.spares``).  The spec may then say that nothing forks: see below."""
    if no_fork or (executor or "local") != "local":
        return
    from .kernels.fork.support import platform_blocker

    if platform_blocker():
        return
    from .kernels.fork import spares
    from .kernels.job import run_env
    from .snapshot.sign import named_key_file

    spares.start(sys.executable, (), run_env(named_key_file()))


def _end_early_zygote_unless_forking(spec, executor: str | None) -> None:
    """End the early zygote if the spec forks nothing (``fork: false``, Dask, a remote build)."""
    if not spec.fork or (executor or spec.executor or "local") != "local" or spec.build_url:
        from .kernels.fork import spares

        spares.close_all()


def _terminate_as_interrupt() -> None:
    """SIGTERM stops a run exactly like Ctrl-C: kernels killed, nothing half-written, exit 130."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@main.command()
@click.argument("names", nargs=-1, required=True, metavar="[SPEC] VARIANT")
@click.option("--spec", "spec_option", default=None, type=click.Path(dir_okay=True, path_type=Path),
              help="The graph, as the first argument does (default: ./inheritance.yaml).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the variant runs, until the run ends.")
@handle_errors
def logs(names: tuple[str, ...], spec_option: Path | None, follow: bool) -> None:
    """Show the cell output (stdout/stderr) of VARIANT, e.g. 'train[model=svm,strength=0.1]'."""
    from .report.logs import show_log

    spec, variant = _spec_and_variant(names, spec_option)
    show_log(spec, variant, follow=follow, write=lambda text: (sys.stdout.write(text), sys.stdout.flush()))


def _spec_and_variant(names: tuple[str, ...], spec_option: Path | None) -> tuple[Path, str]:
    """``logs [SPEC] VARIANT`` like every other command, ``--spec`` as before; a lone YAML file is a slip."""
    if len(names) > 2 or (len(names) == 2 and spec_option is not None):
        raise SelectionError("nbgraph logs: give one spec and one variant: nbgraph logs [SPEC] VARIANT")
    if len(names) == 2:
        return Path(names[0]), names[1]
    (variant,) = names
    if variant.endswith((".yaml", ".yml")) and Path(variant).is_file():
        raise SelectionError(f"nbgraph logs {variant}: that is a spec, not a variant; name the variant too: "
                             f"nbgraph logs {variant} VARIANT (nbgraph status {variant} lists them)", variant=variant)
    return spec_option or Path(DEFAULT_SPEC), variant


@main.command()
@SPEC_ARG
@handle_errors
def validate(spec: Path) -> None:
    """Check SPEC and its notebooks without running anything."""
    from .graph import run_graph
    from .preflight import check_kernels, kernel_notes, runs_here
    from .spec import load_spec

    loaded = load_spec(spec)
    rg = run_graph(loaded)
    if runs_here(loaded):
        check_kernels(loaded, loaded.nodes.values())
    for note in kernel_notes(loaded, loaded.nodes.values()):
        click.echo(note, err=True)
    files = len({node.path for node in loaded.nodes.values()})
    click.echo(f"{loaded.file.name}: OK, {len(loaded.nodes)} nodes ({files} notebook file{'s' * (files != 1)}), "
               f"{rg.number_of_nodes()} variants")


@main.command()
@SPEC_ARG
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per variant.")
@handle_errors
def status(spec: Path, as_json: bool) -> None:
    """What ran, what failed, and what the next run would execute and why."""
    from .plan import make_plan
    from .report.status import status_rows

    rows = status_rows(make_plan(opened(spec)))
    if as_json:
        from .report.jsonout import dumps

        click.echo(dumps(rows))
        return
    from .report.terminal import print_status

    print_status(console(), rows)


@main.command()
@SPEC_ARG
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (.png, .svg, .dot or .mmd); default: <build_dir>/graph.png, or stdout for dot/mermaid.")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "dot", "mermaid"]), default=None,
              help="png/svg write an image; dot/mermaid print text for other tools.")
@click.option("--force", is_flag=True, help="Replace the output file even if nbgraph plot did not write it.")
@handle_errors
def plot(spec: Path, output: Path | None, fmt: str | None, force: bool) -> None:
    """Draw the graph, nodes coloured by their variants' last status."""
    from .plan import make_plan
    from .report.plot import plot as draw_plot

    kind, path = draw_plot(make_plan(opened(spec)), output, fmt, force=force)
    if path is None:
        click.echo(kind, nl=False)
    else:
        click.echo(f"wrote {path}")


@main.command()
@SPEC_ARG
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", help="Output format.")
@click.option("--sort", "sort_key", metavar="KEY", default=None,
              help="Sort by a recorded value or parameter; -KEY (e.g. --sort=-accuracy) sorts descending.")
@click.option("--node", "nodes", multiple=True, metavar="NODE", help="Only this node's variants (repeatable).")
@click.option("--all", "every", is_flag=True, help="Every variant, also those that recorded nothing.")
@click.option("--plot", "metric", metavar="METRIC", default=None,
              help="Write a chart of this recorded number across the variants instead of the table.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The chart's file, .png or .svg (default: <build_dir>/charts/METRIC.png).")
@click.option("--force", is_flag=True, help="Replace an -o file that nbgraph did not write.")
@handle_errors
def results(spec: Path, fmt: str, sort_key: str | None, nodes, every: bool, metric: str | None,
            output: Path | None, force: bool) -> None:
    """One row per variant: its parameters and the values it (and its ancestors) recorded with nbgraph.record."""
    from .plan import make_plan
    from .report import results as res

    loaded = opened(spec)
    rows = res.result_rows(make_plan(loaded), nodes=nodes, every=every)
    if metric is not None:
        from .report.charts import chart_path, write_chart

        click.echo(f"wrote {write_chart(rows, metric, output or chart_path(loaded.build_dir, metric), force=force)}")
        return
    if output is not None:
        raise SelectionError("-o names a chart's file: add --plot METRIC")
    if sort_key:
        rows = res.sort_rows(rows, sort_key)
    if fmt == "csv":
        click.echo(res.to_csv(rows), nl=False)
    elif fmt == "json":
        click.echo(res.to_json(rows))
    else:
        res.print_table(console(), rows)


@main.command()
@SPEC_ARG
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for index.html; default: <build_dir>/report.")
@click.option("--force", is_flag=True,
              help="Write into a folder that holds files but no earlier report (files of the report's names are replaced).")
@handle_errors
def report(spec: Path, out_dir: Path | None, force: bool) -> None:
    """Write a static HTML report: graph, results, statuses, executed notebooks."""
    from .plan import make_plan
    from .report.html import write_report

    written = write_report(make_plan(opened(spec)), out_dir, force=force)
    click.echo(f"wrote {written.index} ({len(written.notebooks)} notebooks)")
    if written.published:
        click.echo(f"published to {written.published}")


@main.command()
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--parent", required=True, metavar="NODE", help="The node whose kernel state the new notebook inherits.")
@click.option("--grid", "grid", multiple=True, metavar="K=V1,V2",
              help="A grid parameter and its values (repeatable); or once, a list grid: '[{model: [svm], C: [0.1, 1]}, ...]'.")
@click.option("--params", "params", multiple=True, metavar="K=V", help="A fixed parameter (repeatable).")
@click.option("--name", default=None, help="Node name (default: the notebook's file name without its extension).")
@click.option("--spec", "spec", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SPEC,
              show_default=True, help="The inheritance.yaml to add to.")
@handle_errors
def add(notebook: Path, parent: str, grid, params, name: str | None, spec: Path) -> None:
    """Add NOTEBOOK to the graph under --parent (created if missing, ready for JupyterLab)."""
    from .edit import add_node

    added = add_node(spec, notebook, parent, grid=grid, params=params, name=name)
    made = "created" if added.created else "existing"
    click.echo(f"added node {added.name} ({made} notebook {added.notebook}) under {parent} in {added.spec.file.name}")


@main.command()
@SPEC_ARG
@click.option("--all", "every", is_flag=True, help="Remove everything in the build folder.")
@click.option("--dry-run", is_flag=True, help="List what would be removed, remove nothing.")
@handle_errors
def clean(spec: Path, every: bool, dry_run: bool) -> None:
    """Remove outputs of nodes and variants no longer in SPEC (everything with --all)."""
    from .build.clean import clean as do_clean
    from .build.clean import others
    from .spec import load_spec

    from .build.lock import BuildLock

    loaded = load_spec(spec)
    if dry_run:
        removed = do_clean(loaded, every=every, dry_run=True)
    else:
        with BuildLock(loaded.build_dir, loaded.build_location):  # never under a running build
            removed = do_clean(loaded, every=every, dry_run=False)
    verb = "would remove" if dry_run else "removed"
    for path in removed.paths:
        click.echo(f"{verb} {path}")
    chunks = f" and {removed.chunks} unreferenced chunk(s)" if removed.chunks else ""
    freed = "would free" if dry_run else "freed"
    click.echo(f"{verb} {len(removed.paths)} item(s){chunks} from {loaded.build_location}; "
               f"{freed} {removed.freed / 1e6:.1f} MB")
    for other, folders in others(loaded).items():
        click.echo(f"kept {len(folders)} variant folder(s) of another spec, {other}")


if __name__ == "__main__":  # pragma: no cover
    main()
