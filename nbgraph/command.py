"""What every ``nbgraph`` command shares: one-line errors and exit codes, the console, argument types.

Exit codes: 0 success, 1 a notebook failed, 2 bad input before anything ran,
3 nbgraph itself failed, 130 interrupted, 141 output pipe closed (``| head``).  ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from .errors import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, NbgraphError
from .spec import DEFAULT_SPEC


class Seconds(click.ParamType):
    """A per-cell timeout, checked as the YAML's ``timeout`` is (so ``nan`` and ``inf`` are refused here)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        from .spec.checks import timeout_problem

        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = value
        problem = timeout_problem(seconds)
        if problem:
            self.fail(f"{value!r} {problem}", param, ctx)
        return seconds


SPEC_ARG = click.argument("spec", required=False, default=DEFAULT_SPEC, type=click.Path(dir_okay=True, path_type=Path))


def console(stderr: bool = False):
    """A rich console that exits 141, not 1, when its reader goes away (``| head``)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich's own exits 1, which means "a notebook failed"
            _silence_stdout()
            raise SystemExit(EXIT_BROKEN_PIPE)

    return _Console(stderr=stderr, highlight=False, soft_wrap=True)


def opened(spec: Path):
    """The loaded spec, its build's records mirrored locally first when the build location is a URL."""
    from .runner import open_build
    from .spec import load_spec

    loaded = load_spec(spec)
    open_build(loaded, create=False)  # these commands only look: no build folder made for them
    return loaded


def handle_errors(fn):
    """Turn nbgraph's errors into one line and an exit code; --debug adds the traceback.

    The exit code is the same with or without --debug: a script must not read a bad spec
    (2) as a failed notebook (1) because someone turned tracebacks on.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except NbgraphError as e:
            _fail(f"nbgraph: error: {e}", e.exit_code, debug)
        except KeyboardInterrupt:
            _fail("nbgraph: interrupted", EXIT_INTERRUPTED, debug)
        except BrokenPipeError:  # `nbgraph status | head`: the reader is gone, nothing to say
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except Exception as e:
            hint = "" if debug else " (run with --debug for the traceback)"
            _fail(f"nbgraph: internal error: {type(e).__name__}: {e}{hint}", EXIT_INTERNAL, debug)

    return wrapper


def _fail(line: str, code: int, debug: bool) -> None:
    """Exit with ``code`` after the one line; with --debug, the traceback above it."""
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    click.echo(line, err=True)
    sys.exit(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
