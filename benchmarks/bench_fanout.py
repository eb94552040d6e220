"""Fan-out at the limit: wall time against what the notebooks' own cells need, side by side.

    python benchmarks/bench_fanout.py [--cases study,slow,marginal,grid] [--repeat 3]

Every run is a real ``nbgraph run --force`` in a subprocess, forked and fresh (``--no-fork``).
A variant's *own* time is its record's ``timings.own_cells``: the sum of papermill's durations
of its notebook's cells (nbgraph's injected cells excluded); the *floor* of a run is max(critical path of own times through the
graph, total own time / cores).

(a) ``study``: the repository's example study (22 notebooks): wall / floor (goal <= 1.3).
(b) ``slow``: 1 parent (a 5 s step and a 100 MB array) + 8 trivial children, ``--jobs 2``:
    wall / (parent's own time + children's own time / 2) (goal <= 1.25).
(c) ``marginal``: one more trivial child at ``--jobs 1`` (8 children against 16), against
    papermill alone executing a trivial notebook in a warm process (goal <= 0.2).
(d) ``grid``: a 1 x 4 x 4 x 3 grid of trivial notebooks (69 variants), forked against fresh.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import statistics

import networkx as nx
from common import write_notebook

REPO = Path(__file__).resolve().parent.parent
CORES = os.cpu_count() or 1
REPEAT = 3  # --repeat: every wall time is the median of this many runs


def nbgraph_run(spec: Path, *args: str) -> float:
    """Median wall time of REPEAT ``nbgraph run --force`` of ``spec`` (the build is then the last one's)."""
    walls = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nbgraph", "run", str(spec), "--force", *args],
                              capture_output=True, text=True, cwd=spec.parent)
        walls.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"nbgraph run {spec} failed:\n{done.stdout[-800:]}{done.stderr[-800:]}")
    return statistics.median(walls)


def own_times(spec: Path) -> tuple[dict[str, float], nx.DiGraph]:
    """Own-cell seconds per variant, and the graph of variants (from their records)."""
    own: dict[str, float] = {}
    graph = nx.DiGraph()
    for record_path in (spec.parent / "build").glob("*/*/record.json"):
        record = json.loads(record_path.read_text())
        name = record["name"]
        graph.add_node(name)
        for parent in record.get("parents", []):
            graph.add_edge(parent, name)
        own[name] = (record.get("timings") or {}).get("own_cells", 0.0)
    return own, graph


def floor(own: dict[str, float], graph: nx.DiGraph, cores: int) -> tuple[float, float, float]:
    longest: dict[str, float] = {}
    for name in nx.topological_sort(graph):
        longest[name] = own.get(name, 0.0) + max((longest[p] for p in graph.predecessors(name)), default=0.0)
    critical = max(longest.values(), default=0.0)
    total = sum(own.values())
    return max(critical, total / cores), critical, total


def both_ways(spec: Path, *args: str) -> dict[str, float]:
    return {"forked": nbgraph_run(spec, *args), "fresh": nbgraph_run(spec, *args, "--no-fork")}


def case_study(where: Path) -> None:
    root = where / "study"
    shutil.copytree(REPO / "pipelines", root / "pipelines")
    shutil.copy(REPO / "inheritance.yaml", root / "inheritance.yaml")
    spec = root / "inheritance.yaml"
    nbgraph_run(spec)  # warm-up: imports, page cache
    for mode, extra in (("forked", ()), ("fresh", ("--no-fork",))):
        wall = nbgraph_run(spec, *extra)
        own, graph = own_times(spec)  # of this mode's last run
        limit, critical, total = floor(own, graph, CORES)
        print(f"(a) example study, {mode:6}: wall {wall:5.1f} s; own cells {total:.1f} s, critical path {critical:.1f} s,"
              f" floor {limit:.1f} s -> wall/floor {wall / limit:.2f} (goal <= 1.3)")


def fan(root: Path, children: int, parent_cells: tuple[str, ...]) -> Path:
    write_notebook(root / "parent.ipynb", *parent_cells)
    write_notebook(root / "child.ipynb", "y = 1", parameters="i = 0")
    (root / "inheritance.yaml").write_text(
        "notebooks:\n  parent: {path: parent.ipynb}\n"
        f"  child: {{path: child.ipynb, parent: parent, grid: {{i: {list(range(children))}}}}}\n")
    return root / "inheritance.yaml"


def case_slow(where: Path) -> None:
    spec = fan(where / "slow", 8, ("import time\ntime.sleep(5)", "import numpy as np\nbig = np.ones(100 * 2**20 // 8)"))
    for mode, extra in (("forked", ()), ("fresh", ("--no-fork",))):
        wall = nbgraph_run(spec, "--jobs", "2", *extra)
        own, _ = own_times(spec)
        children = sum(v for k, v in own.items() if k != "parent")
        limit = own["parent"] + children / 2
        print(f"(b) 5 s parent + 8 children, --jobs 2, {mode:6}: wall {wall:5.2f} s, parent own {own['parent']:.2f} s, "
              f"children own {children:.2f} s -> wall/floor {wall / limit:.2f} (goal <= 1.25)")


def papermill_alone(where: Path, repeat: int = 5) -> float:
    notebook = write_notebook(where / "trivial.ipynb", "y = 1")
    code = (f"import time, papermill, statistics\nts = []\n"
            f"for i in range({repeat + 1}):\n"
            f"    t = time.perf_counter()\n"
            f"    papermill.execute_notebook({str(notebook)!r}, {str(where / 'out.ipynb')!r}, progress_bar=False, kernel_name='python3')\n"
            f"    ts.append(time.perf_counter() - t)\n"
            f"print(statistics.median(ts[1:]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def case_marginal(where: Path) -> None:
    alone = papermill_alone(where / "papermill")
    for mode in ("forked", "fresh"):
        extra = ["--jobs", "1"] + ([] if mode == "forked" else ["--no-fork"])
        small = fan(where / f"marginal-{mode}-8", 8, ("x = 1",))
        large = fan(where / f"marginal-{mode}-16", 16, ("x = 1",))
        nbgraph_run(small, *extra)  # warm-up
        per_child = (nbgraph_run(large, *extra) - nbgraph_run(small, *extra)) / 8
        print(f"(c) one more trivial child, --jobs 1, {mode:6}: {per_child:.3f} s; papermill alone per trivial "
              f"notebook {alone:.3f} s -> {per_child / alone:.2f} (goal <= 0.2; target <= 0.15 s per child)")


def case_grid(where: Path) -> None:
    root = where / "grid"
    for name, key in (("a", "k"), ("b", "p"), ("c", "q"), ("d", "r")):
        write_notebook(root / f"{name}.ipynb", f"{name}_value = {key}", parameters=f"{key} = 0")
    (root / "inheritance.yaml").write_text(
        "notebooks:\n  a: {path: a.ipynb}\n"
        "  b: {path: b.ipynb, parent: a, grid: {p: [1, 2, 3, 4]}}\n"
        "  c: {path: c.ipynb, parent: b, grid: {q: [1, 2, 3, 4]}}\n"
        "  d: {path: d.ipynb, parent: c, grid: {r: [1, 2, 3]}}\n")
    walls = both_ways(root / "inheritance.yaml")
    print(f"(d) 1 x 4 x 4 x 3 grid (69 variants): forked {walls['forked']:.1f} s, fresh {walls['fresh']:.1f} s "
          f"-> fresh/forked {walls['fresh'] / walls['forked']:.2f}")


CASES = {"study": case_study, "slow": case_slow, "marginal": case_marginal, "grid": case_grid}


def main() -> None:
    global REPEAT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeat", type=int, default=REPEAT, help="runs per wall time (their median)")
    args = parser.parse_args()
    REPEAT = max(1, args.repeat)
    where = Path(tempfile.mkdtemp(prefix="nbgraph-bench-fanout-"))
    try:
        print(f"{CORES} cores; wall times are medians of {REPEAT} runs on a machine that may be busy: compare ratios")
        for name in args.cases.split(","):
            CASES[name](where)
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
