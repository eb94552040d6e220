"""The chunk store: one study run with chunk sharing on and off, and 1 GiB micro cases, side by side.

    python benchmarks/bench_store.py [--cases study,untouched,ten,rewrite,load] [--mb 200] [--dir /tmp/x]

(a) ``study``: a parent holding MB of data, 3 feature variants each adding an array of MB,
    4 leaves under each (16 variants), run by ``nbgraph run`` with sharing on, then with
    ``NBGRAPH_SHARING=off`` (every snapshot keeps its own copy: the format before the store).
    Printed: the build folder as ``du`` counts it, the distinct data, wall time, and the
    leaves' snapshot cells (papermill's duration of the injected save cell).
(b)-(e) in a fresh process holding a 1 GiB array loaded from a parent's snapshot:
    re-saving it untouched, after changing 10 elements, after rewriting it completely (against
    a raw write of the same bytes), and the load itself (against mapping one 1 GiB file, as
    the previous format's ``buffers.bin`` was).  Each save is timed after a warm-up write
    (see FIELD-NOTES: the first large write after a delete runs slower).
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

from common import write_notebook

REPO = Path(__file__).resolve().parent.parent
GIB = 1 << 30


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True)
    return int(out.stdout.split()[0]) if out.returncode == 0 else 0


def study(root: Path, mb: int) -> Path:
    n = mb * (1 << 20) // 8
    write_notebook(root / "base.ipynb", f"import numpy as np\nbase = np.random.default_rng(0).random({n})")
    write_notebook(root / "feature.ipynb", f"feature = np.random.default_rng(f).random({n})", parameters="f = 0")
    write_notebook(root / "leaf.ipynb", "score = float(base[:100].sum() + feature[:100].sum() * m)", parameters="m = 0")
    (root / "inheritance.yaml").write_text(
        "notebooks:\n"
        "  base: {path: base.ipynb}\n"
        "  feature: {path: feature.ipynb, parent: base, grid: {f: [1, 2, 3]}}\n"
        "  leaf: {path: leaf.ipynb, parent: feature, grid: {m: [1, 2, 3, 4]}}\n")
    return root / "inheritance.yaml"


def save_cell_seconds(build: Path, node: str) -> list[float]:
    times = []
    for nb in sorted(build.glob(f"{node}/*/{node}.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for cell in cells:
            if "nbgraph-snapshot" in cell.get("metadata", {}).get("tags", []):
                times.append(float(cell["metadata"].get("papermill", {}).get("duration") or 0))
    return times


def run_study(mb: int, where: Path) -> None:
    print(f"(a) study: parent {mb} MB, 3 features x {mb} MB, 4 leaves each (16 variants)")
    distinct = 4 * mb * (1 << 20)
    rows = {}
    for mode in ("shared", "off"):
        root = where / f"study-{mode}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        spec = study(root, mb)
        env = {**os.environ, "NBGRAPH_SHARING": "on" if mode == "shared" else "off"}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nbgraph", "run", str(spec), "--jobs", "2"], env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(f"  {mode}: failed: {done.stdout[-300:]}{done.stderr[-300:]}")
            return
        build = root / "build"
        leaves = save_cell_seconds(build, "leaf")
        rows[mode] = (du(build), wall, leaves)
        print(f"  sharing {mode:6}: build {rows[mode][0] / 1e9:5.2f} GB ({rows[mode][0] / distinct:4.2f}x the "
              f"{distinct / 1e9:.2f} GB distinct), wall {wall:5.1f} s, leaf save cells "
              f"{min(leaves):.2f}-{max(leaves):.2f} s (mean {sum(leaves) / len(leaves):.2f})")
    on, off = rows["shared"], rows["off"]
    print(f"  ratios: build size {on[0] / distinct:.2f}x distinct (goal <= 1.25), sharing off / on: "
          f"size {off[0] / on[0]:.1f}x, wall {off[1] / on[1]:.2f}x (goal >= 2)")


MICRO = r"""
import json, os, sys, time
import numpy as np
from pathlib import Path
from nbgraph.snapshot.format import dump_namespace, load_snapshot
where = Path(sys.argv[1]); objects = where / "objects"
warm = np.random.default_rng(1).random(1 << 27)
dump_namespace({"warm": warm}, where / "warm", objects=where / "warm-objects"); del warm
parent = {"big": np.random.default_rng(0).random(1 << 27)}
dump_namespace(parent, where / "parent", objects=objects); del parent
out = {}
t = time.perf_counter(); ns = load_snapshot(where / "parent", verify_buffers=False); out["load"] = time.perf_counter() - t
t = time.perf_counter(); ns["big"][12345]; out["touch"] = time.perf_counter() - t
def save(name, share=True):
    t = time.perf_counter()
    report = dump_namespace(ns, where / name, objects=objects if share else None, share=share)
    return time.perf_counter() - t, report.written
out["untouched"] = save("untouched")
out["untouched_off"] = save("untouched-off", share=False)
ns["big"][[5, 100, 7000, 7001, 7002, 7003, 7004, 7005, 7006, 7007]] = -1.0
out["ten"] = save("ten")
ns["big"] *= 2.0
out["rewrite"] = save("rewrite")
raw = where / "raw.bin"
t = time.perf_counter()
fd = os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
view = memoryview(ns["big"]).cast("B")
while view.nbytes:
    view = view[os.write(fd, view):]
os.close(fd)
out["raw"] = time.perf_counter() - t
import mmap
t = time.perf_counter()
with open(raw, "rb") as fh:
    m = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
old = np.frombuffer(memoryview(m), dtype=np.float64)
out["load_one_file"] = time.perf_counter() - t
print(json.dumps(out))
"""


def run_micro(where: Path, cases: set[str]) -> None:
    root = where / "micro"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", MICRO, str(root)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print("micro cases failed:", done.stderr[-500:])
        return
    r = json.loads(done.stdout.strip().splitlines()[-1])
    mb = lambda n: f"{n / 1e6:7.1f} MB"  # noqa: E731
    if "untouched" in cases:
        print(f"(b) untouched 1 GiB inherited array: save {r['untouched'][0]:.3f} s, wrote {mb(r['untouched'][1])} "
              f"(goal <= 0.05 s); sharing off {r['untouched_off'][0]:.3f} s -> {r['untouched_off'][0] / r['untouched'][0]:.0f}x")
    if "ten" in cases:
        print(f"(c) 10 elements changed in place: save {r['ten'][0]:.3f} s, wrote {mb(r['ten'][1])} (goal <= 0.1 s, ~1 chunk)")
    if "rewrite" in cases:
        print(f"(d) rewritten completely: save {r['rewrite'][0]:.3f} s vs raw write {r['raw']:.3f} s "
              f"-> {r['rewrite'][0] / r['raw']:.2f}x (goal <= 1.3)")
    if "load" in cases:
        print(f"(e) load of the 1 GiB inherited array: {r['load'] * 1e3:.1f} ms (+ {r['touch'] * 1e6:.0f} us to touch "
              f"one element) vs one mapping of a 1 GiB file {r['load_one_file'] * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="study,untouched,ten,rewrite,load")
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    where = args.dir or Path(tempfile.mkdtemp(prefix="nbgraph-bench-store-"))
    try:
        if "study" in cases:
            run_study(args.mb, where)
        if cases - {"study"}:
            run_micro(where, cases)
    finally:
        if args.dir is None:
            shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
