"""Rebuild benchmark: what recording the history costs, and what a rebuild costs against the parent's work.

(a) overhead of recording on trivial children: a parent and 8 children of one line each, and
    one child of 200 one-line cells, run with this checkout and with a baseline checkout from
    before the history was recorded (``git archive`` of ``--baseline-rev``, default the commit
    this work forked from), alternating, ``--rounds`` times; medians of the variants' durations.
(b) rebuild time: a parent with a slow cell, a connection made in a cell that also queries, a
    file partly read, a lock, a hash object and an advanced generator; its child rebuilds them.
    Prints the child's rebuild time beside the parent's own run time (what re-executing the
    parent in the child, the alternative, would cost).

    python benchmarks/bench_rebuild.py [--rounds 3] [--baseline-rev cfd283f] [--parent-seconds 3] [--trivial-only]

Figures are noisy on a shared machine: read the ratios, measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import write_notebook  # noqa: E402


def _cli(folder: Path, code: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(code)}
    return subprocess.run([sys.executable, "-m", "nbgraph", *args], cwd=folder, env=env, capture_output=True,
                          text=True)


def _baseline(rev: str) -> Path:
    tree = Path(tempfile.mkdtemp(prefix="nbgraph-baseline-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "nbgraph"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def _durations(folder: Path, code: Path) -> dict[str, float]:
    rows = json.loads(_cli(folder, code, "status", "--json").stdout)
    return {r["name"]: r["duration"] for r in rows if r["duration"] is not None}


def overhead(rounds: int, baseline: Path, many: bool = True) -> None:
    folder = Path(tempfile.mkdtemp(prefix="nbgraph-bench-rebuild-"))
    write_notebook(folder / "p.ipynb", "x = 1")
    lines = ["notebooks:", "  p: {path: p.ipynb}"]
    for i in range(8):
        write_notebook(folder / f"c{i}.ipynb", "y = x + 1")
        lines.append(f"  c{i}: {{path: c{i}.ipynb, parent: p}}")
    if many:
        write_notebook(folder / "many.ipynb", *[f"v{i} = x + {i}" for i in range(200)])
        lines.append("  many: {path: many.ipynb, parent: p}")
    (folder / "inheritance.yaml").write_text("\n".join(lines) + "\n")
    got: dict[str, dict[str, list[float]]] = {"baseline": {}, "this": {}}
    for _ in range(rounds):
        for label, code in (("baseline", baseline), ("this", REPO)):
            proc = _cli(folder, code, "run", "--force", "--jobs", "2")
            assert proc.returncode == 0, proc.stdout + proc.stderr
            for name, seconds in _durations(folder, code).items():
                got[label].setdefault(name, []).append(seconds)
    print("(a) recording overhead, median seconds per variant (nbgraph's own duration: kernel start to record)")
    trivial = {label: statistics.median([s for n, ss in runs.items() if n.startswith("c") for s in ss])
               for label, runs in got.items()}
    print(f"  trivial child (1 cell):   baseline {trivial['baseline']:.3f}s  this {trivial['this']:.3f}s  "
          f"ratio {trivial['this'] / trivial['baseline']:.3f}")
    if not many:
        return
    many = {label: statistics.median(runs["many"]) for label, runs in got.items()}
    print(f"  child of 200 cells:       baseline {many['baseline']:.3f}s  this {many['this']:.3f}s  "
          f"ratio {many['this'] / many['baseline']:.3f}  "
          f"({(many['this'] - many['baseline']) / 200 * 1000:+.2f} ms per cell)")


def rebuild_time(parent_seconds: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="nbgraph-bench-rebuild-"))
    (folder / "data.txt").write_text("".join(f"line {i}\n" for i in range(1000)))
    write_notebook(folder / "p.ipynb", "import hashlib, sqlite3, threading, time",
                   f"time.sleep({parent_seconds})  # the slow work\nbase = list(range(100_000))",
                   "conn = sqlite3.connect(':memory:')\nconn.execute('create table t (x)')\n"
                   "conn.executemany('insert into t values (?)', [(i,) for i in base])\n"
                   "total = conn.execute('select sum(x) from t').fetchone()",
                   "reader = open('data.txt')\nhead = [reader.readline() for _ in range(10)]\n"
                   "lock = threading.Lock()\ndigest = hashlib.sha256()\ndigest.update(b'abc' * 1000)\n"
                   "squares = (i * i for i in base)\nfirst = [next(squares) for _ in range(5)]")
    write_notebook(folder / "c.ipynb", "print(reader.readline(), next(squares), digest.hexdigest()[:8], total)")
    (folder / "inheritance.yaml").write_text("notebooks:\n  p: {path: p.ipynb}\n  c: {path: c.ipynb, parent: p}\n")
    proc = _cli(folder, REPO, "run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["name"]: r for r in json.loads(_cli(folder, REPO, "status", "--json").stdout)}
    child = rows["c"]
    print("(b) rebuild time")
    print(f"  parent ran {rows['p']['duration']:.2f}s; its child rebuilt {len(child['rebuilt'])} variables "
          f"({', '.join(r['name'] for r in child['rebuilt'])}) in {child['rebuild_seconds']:.4f}s, "
          f"not inherited: {[m['name'] for m in child['not_inherited']]}; child ran {child['duration']:.2f}s; "
          f"rebuild / parent = {child['rebuild_seconds'] / rows['p']['duration']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-rev", default="cfd283f")
    parser.add_argument("--parent-seconds", type=float, default=3.0)
    parser.add_argument("--trivial-only", action="store_true", help="only (a), without the 200-cell child")
    args = parser.parse_args()
    if not args.trivial_only:
        rebuild_time(args.parent_seconds)
    overhead(args.rounds, _baseline(args.baseline_rev), many=not args.trivial_only)


if __name__ == "__main__":
    main()
