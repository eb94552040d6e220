"""A no-op ``nbgraph run`` of a 50-variant graph: how much it costs on top of start-up.

Builds a throw-away study (1 load -> 7 features variants -> 42 train variants), runs it
for real once, then, side by side in one session:

* start-up: ``python -m nbgraph --version`` (interpreter + CLI imports),
* a no-op ``python -m nbgraph run`` (everything is up to date),
* the same no-op through the library (``nbgraph.run`` in a warm process),
* ``nbgraph status`` and ``nbgraph run --dry-run``.

Target (issue 5): the no-op run costs under 1 s on top of start-up.

    PYTHONPATH=. python benchmarks/noop_run.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_notebook

SPEC = """
notebooks:
  load:
    path: load.ipynb
  features:
    path: features.ipynb
    parent: load
    grid: {scale: [1, 2, 3, 4, 5, 6, 7]}
  train:
    path: train.ipynb
    parent: features
    grid: {model: [a, b, c], strength: [0.1, 1.0]}
"""


def timed_cli(args: list[str], cwd: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nbgraph", *args], cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"nbgraph {' '.join(args)} failed:\n{done.stderr}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbgraph
    from nbgraph.plan import make_plan
    from nbgraph.spec import load_spec

    with tempfile.TemporaryDirectory(prefix="nbgraph-noop-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("NBGRAPH_KEY_FILE", str(root / "key"))
        write_notebook(root / "load.ipynb", "data = list(range(1000))")
        write_notebook(root / "features.ipynb", "feats = [x * scale for x in data]", parameters="scale = 1")
        write_notebook(root / "train.ipynb", "score = sum(feats) * strength", parameters="model = 'a'\nstrength = 1.0")
        (root / "inheritance.yaml").write_text(SPEC)
        spec = root / "inheritance.yaml"

        started = time.perf_counter()
        first = nbgraph.run(spec)
        full = time.perf_counter() - started
        variants = len(first.outcome)
        assert first.ok and len(first.names("succeeded")) == variants == 50, first.outcome

        startup = timed_cli(["--version"], root, args.repeat)
        noop_cli = timed_cli(["run"], root, args.repeat)
        status_cli = timed_cli(["status"], root, args.repeat)
        dry_cli = timed_cli(["run", "--dry-run"], root, args.repeat)
        lib = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            again = nbgraph.run(spec)
            lib.append(time.perf_counter() - t0)
            assert len(again.names("up to date")) == variants
        plan_times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            make_plan(load_spec(spec))
            plan_times.append(time.perf_counter() - t0)
        noop_lib = statistics.median(lib)

    print(f"graph: {variants} variants; medians of {args.repeat}")
    print(f"  full first run                 {full:8.2f} s")
    print(f"  start-up (nbgraph --version)   {startup:8.3f} s")
    print(f"  no-op `nbgraph run`            {noop_cli:8.3f} s   on top of start-up: {noop_cli - startup:.3f} s "
          f"(target < 1 s: {'met' if noop_cli - startup < 1 else 'MISSED'})")
    print(f"  `nbgraph status`               {status_cli:8.3f} s   on top of start-up: {status_cli - startup:.3f} s")
    print(f"  `nbgraph run --dry-run`        {dry_cli:8.3f} s   on top of start-up: {dry_cli - startup:.3f} s")
    print(f"  no-op nbgraph.run (warm)       {noop_lib:8.3f} s   (plan alone {statistics.median(plan_times):.3f} s)")
    print(f"  ratio full run / no-op CLI run {full / noop_cli:8.1f} x")


if __name__ == "__main__":
    main()
