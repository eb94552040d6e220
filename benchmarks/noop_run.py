"""A no-op ``nbgraph run`` of a 50-variant graph: how much it costs on top of start-up.

Builds a throw-away study (1 load -> 7 features variants -> 42 train variants), runs it
for real once, then, side by side in one session:

* start-up: ``python -m nbgraph --version`` (interpreter + CLI imports),
* a no-op ``python -m nbgraph run`` (everything is up to date),
* the same no-op through the library (``nbgraph.run`` in a warm process),
* ``nbgraph status`` and ``nbgraph run --dry-run``.

Target (issue 5): the no-op run costs under 1 s on top of start-up.

Issue 13 (what notebooks used): the same 50-variant graph where every variant imports 5 local
modules and reads 5 files of its own (255 files in all), its no-op ``nbgraph run`` against the
plain graph's in the same session (target: within 1.2x); and what recording adds to a trivial
child's end-to-end time (a parent with 8 children forced to run, recording on vs. its injected
calls replaced by ``pass``, interleaved; target: under 5 %).

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


USES_CELL = """
import m0, m1, m2, m3, m4
texts = [open(f"data/{tag}_{i}.txt").read() for i in range(5)]
"""


def write_uses_study(root: Path) -> Path:
    """The 50-variant graph, each variant importing 5 local modules and reading 5 files of its own."""
    for i in range(5):
        (root / f"m{i}.py").write_text(f"VALUE = {i}\n")
    (root / "data").mkdir()
    tags = ["load"] + [f"f{s}" for s in range(1, 8)]
    tags += [f"t{s}{m}{x}" for s in range(1, 8) for m in "abc" for x in ("0.1", "1.0")]
    for tag in tags:
        for i in range(5):
            (root / "data" / f"{tag}_{i}.txt").write_text(f"{tag} {i}\n" * 20)
    write_notebook(root / "load.ipynb", "tag = 'load'", USES_CELL, "data = list(range(1000))")
    write_notebook(root / "features.ipynb", "tag = f'f{scale}'", USES_CELL, "feats = [x * scale for x in data]",
                   parameters="scale = 1")
    write_notebook(root / "train.ipynb", "tag = f't{scale}{model}{strength}'", USES_CELL,
                   "score = sum(feats) * strength", parameters="model = 'a'\nstrength = 1.0")
    (root / "inheritance.yaml").write_text(SPEC)
    return root / "inheritance.yaml"


def recording_overhead(root: Path, repeat: int) -> tuple[float, float]:
    """Median end-to-end seconds of a trivial forked child, recording on and off (interleaved)."""
    import nbgraph
    from nbgraph.kernels import run as job_run

    write_notebook(root / "parent.ipynb", "base = 1")
    write_notebook(root / "child.ipynb", "x = base + k", parameters="k = 0")
    (root / "inheritance.yaml").write_text(
        "notebooks:\n  parent: {path: parent.ipynb}\n"
        "  child: {path: child.ipynb, parent: parent, grid: {k: [1, 2, 3, 4, 5, 6, 7, 8]}}\n")
    real = job_run._start_uses, job_run._finish_uses, job_run._collect_uses
    off = (lambda job: "pass", lambda job: "pass", lambda job, error: {})
    times: dict[bool, list[float]] = {True: [], False: []}
    nbgraph.run(root / "inheritance.yaml")  # warm: kernels, caches
    for _ in range(repeat):
        for on in (True, False):
            job_run._start_uses, job_run._finish_uses, job_run._collect_uses = real if on else off
            result = nbgraph.run(root / "inheritance.yaml", force=True, jobs=1)
            times[on] += [r.duration for n, r in result.records.items() if n.startswith("child")]
    job_run._start_uses, job_run._finish_uses, job_run._collect_uses = real
    return statistics.median(times[True]), statistics.median(times[False])


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

        uses_root = root / "uses"
        uses_root.mkdir()
        uses_spec = write_uses_study(uses_root)
        first_uses = nbgraph.run(uses_spec)
        assert first_uses.ok and len(first_uses.names("succeeded")) == 50, first_uses.outcome
        rec = first_uses.records["train[scale=3,model=b,strength=0.1]"].uses
        assert len(rec["modules"]) == 5 and len(rec["files"]) == 5, rec
        plain_cli, uses_cli = [], []
        for _ in range(args.repeat):  # interleaved, so that the machine's load weighs on both alike
            plain_cli.append(timed_cli(["run"], root, 1))
            uses_cli.append(timed_cli(["run"], uses_root, 1))
        plain_cli_t, uses_cli_t = statistics.median(plain_cli), statistics.median(uses_cli)
        (root / "overhead").mkdir()
        with_rec, without_rec = recording_overhead(root / "overhead", args.repeat)

    print(f"graph: {variants} variants; medians of {args.repeat}")
    print(f"  full first run                 {full:8.2f} s")
    print(f"  start-up (nbgraph --version)   {startup:8.3f} s")
    print(f"  no-op `nbgraph run`            {noop_cli:8.3f} s   on top of start-up: {noop_cli - startup:.3f} s "
          f"(target < 1 s: {'met' if noop_cli - startup < 1 else 'MISSED'})")
    print(f"  `nbgraph status`               {status_cli:8.3f} s   on top of start-up: {status_cli - startup:.3f} s")
    print(f"  `nbgraph run --dry-run`        {dry_cli:8.3f} s   on top of start-up: {dry_cli - startup:.3f} s")
    print(f"  no-op nbgraph.run (warm)       {noop_lib:8.3f} s   (plan alone {statistics.median(plan_times):.3f} s)")
    print(f"  ratio full run / no-op CLI run {full / noop_cli:8.1f} x")
    ratio = uses_cli_t / plain_cli_t
    print("what notebooks used (issue 13): 50 variants x (5 local modules + 5 files)")
    print(f"  no-op `nbgraph run`, plain     {plain_cli_t:8.3f} s")
    print(f"  no-op `nbgraph run`, with uses {uses_cli_t:8.3f} s   ratio {ratio:.2f} x "
          f"(target <= 1.2 x: {'met' if ratio <= 1.2 else 'MISSED'})")
    extra = with_rec / without_rec - 1
    print(f"  trivial forked child, recording {with_rec:7.3f} s   without {without_rec:.3f} s   "
          f"overhead {100 * extra:+.1f} % (target < 5 %: {'met' if extra < 0.05 else 'MISSED'})")


if __name__ == "__main__":
    main()
