"""Scale benchmark: nbgraph against re-executing the parent in every child, side by side.

(a) a parent with an expensive CPU-bound step and 12 children:
    nbgraph --jobs 2  vs  "content copy" (each child notebook holds the parent's cells too,
    run with papermill alone, 2 at a time)  vs  nbgraph --jobs 1;
(b) per-child overhead: nbgraph running a trivial child vs a bare papermill run of it;
(c) N children running at once of a parent holding a big array: total kernel memory
    (sum of PSS and RSS of the kernels, sampled while all N are alive).

    python benchmarks/bench_scale.py [--parent-seconds 20] [--children 12] [--mem-children 3]

Figures are noisy on a shared machine: read the ratios, measured in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])

from common import write_notebook  # noqa: E402
import papermill  # noqa: E402
import psutil  # noqa: E402

from nbgraph import run  # noqa: E402

PARENT_CELLS = [
    "import time\nimport numpy as np",
    # the expensive step: CPU-bound, like a feature computation or a slow query's parsing
    "t0 = time.time()\nacc = 0\nwhile time.time() - t0 < seconds:\n    acc += sum(range(10_000))\n"
    "data = np.arange(1_000_000, dtype=float)",
]
CHILD_CELLS = ["result = float((data * k).sum())\nprint(result)"]


def spec(folder: Path, text: str) -> Path:
    path = folder / "inheritance.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def check(result) -> None:
    failed = result.names("failed")
    if failed:
        raise SystemExit(f"benchmark run failed: {failed}: {result.records[failed[0]].error}")


def bench_fanout(root: Path, seconds: float, children: int) -> dict[str, float]:
    write_notebook(root / "parent.ipynb", *PARENT_CELLS, parameters="seconds = 20")
    write_notebook(root / "child.ipynb", *CHILD_CELLS, parameters="k = 0")
    ks = list(range(1, children + 1))
    path = spec(root, f"""
        notebooks:
          parent: {{path: parent.ipynb, params: {{seconds: {seconds}}}}}
          child: {{path: child.ipynb, parent: parent, grid: {{k: {ks}}}}}
    """)
    times = {}
    times["nbgraph --jobs 2"] = timed(lambda: check(run(path, jobs=2, force=True)))
    times["nbgraph --jobs 1"] = timed(lambda: check(run(path, jobs=1, force=True)))
    copy = write_notebook(root / "copy.ipynb", *PARENT_CELLS, *CHILD_CELLS,
                          parameters="seconds = 20\nk = 0")
    out = root / "copies"
    out.mkdir(exist_ok=True)

    def one(k: int) -> None:
        papermill.execute_notebook(str(copy), str(out / f"copy-{k}.ipynb"), parameters={"seconds": seconds, "k": k},
                                   progress_bar=False, cwd=str(root))

    def content_copy() -> None:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, ks))

    times["content copy, papermill x2"] = timed(content_copy)
    return times


def bench_overhead(root: Path, children: int) -> dict[str, float]:
    write_notebook(root / "tiny.ipynb", "x = 1")
    write_notebook(root / "leaf.ipynb", "y = x + k", parameters="k = 0")
    path = spec(root, f"""
        notebooks:
          tiny: {{path: tiny.ipynb}}
          leaf: {{path: leaf.ipynb, parent: tiny, grid: {{k: {list(range(children))}}}}}
    """)
    check(run(path, jobs=1))  # parent's snapshot exists; warms imports
    standalone = write_notebook(root / "standalone.ipynb", "y = x + k", parameters="k = 0\nx = 1")
    papermill.execute_notebook(str(standalone), str(root / "warm.ipynb"), progress_bar=False)

    def bare() -> None:
        for k in range(children):
            papermill.execute_notebook(str(standalone), str(root / f"bare-{k}.ipynb"), parameters={"k": k},
                                       progress_bar=False)

    per_pm = timed(bare) / children
    per_nbgraph = timed(lambda: check(run(path, jobs=1, force=True, only=["leaf"]))) / children
    return {"bare papermill per child": per_pm, "nbgraph per child": per_nbgraph}


def kernel_processes() -> list[psutil.Process]:
    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "ipykernel" in " ".join(proc.cmdline()):
                out.append(proc)
        except psutil.Error:
            pass
    return out


def bench_memory(root: Path, children: int, gib: float) -> dict[str, float]:
    n = int(gib * (1 << 30) // 8)
    write_notebook(root / "big.ipynb", f"import numpy as np\nbig = np.ones({n}, dtype=float)")
    write_notebook(root / "user.ipynb", "import time\ntotal = float(big[::4096].sum())\ntime.sleep(6)",
                   parameters="k = 0")
    path = spec(root, f"""
        notebooks:
          big: {{path: big.ipynb}}
          user: {{path: user.ipynb, parent: big, grid: {{k: {list(range(children))}}}, snapshot: false}}
    """)
    check(run(path, jobs=1, only=["big"]))
    samples: list[tuple[int, int, int]] = []  # (kernels, sum pss, sum rss)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pss = rss = 0
            procs = kernel_processes()
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                    pss, rss = pss + info.pss, rss + info.rss
                except psutil.Error:
                    pass
            samples.append((len(procs), pss, rss))
            time.sleep(0.3)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    check(run(path, jobs=children, only=["user"]))
    stop.set()
    sampler.join()
    full = [s for s in samples if s[0] == children]
    if not full:
        raise SystemExit("the children never ran at the same time; raise their sleep")
    peak = max(full, key=lambda s: s[1])  # while the children load the snapshot
    settled = sorted(full, key=lambda s: s[1])[len(full) // 2]  # median: while they all hold the state
    gb = float(1 << 30)
    return {"peak sum PSS GiB": peak[1] / gb, "peak sum RSS GiB": peak[2] / gb,
            "settled sum PSS GiB": settled[1] / gb, "settled sum RSS GiB": settled[2] / gb}


def part_a(root: Path, args) -> None:
    print(f"(a) parent with a {args.parent_seconds:g} s CPU-bound step, {args.children} children")
    a = bench_fanout(root / "a", args.parent_seconds, args.children)
    for name, t in a.items():
        print(f"    {name:<28} {t:7.1f} s")
    base = a["nbgraph --jobs 2"]
    print(f"    content copy / nbgraph -j2   {a['content copy, papermill x2'] / base:7.2f}x")
    print(f"    nbgraph -j1 / nbgraph -j2    {a['nbgraph --jobs 1'] / base:7.2f}x")


def part_b(root: Path, args) -> None:
    print(f"(b) per-child overhead, {args.overhead_children} trivial children, one at a time")
    b = bench_overhead(root / "b", args.overhead_children)
    for name, t in b.items():
        print(f"    {name:<28} {t:7.2f} s")
    extra = b["nbgraph per child"] - b["bare papermill per child"]
    print(f"    nbgraph / bare papermill     {b['nbgraph per child'] / b['bare papermill per child']:7.2f}x"
          f"  ({extra:+.2f} s per child)")


def part_c(root: Path, args) -> None:
    print(f"(c) {args.mem_children} children at once of a parent holding {args.mem_gib:g} GiB")
    c = bench_memory(root / "c", args.mem_children, args.mem_gib)
    for name, v in c.items():
        print(f"    {name:<28} {v:7.2f}")
    print(f"    settled PSS / parent state   {c['settled sum PSS GiB'] / args.mem_gib:7.2f}x"
          f"  (peak {c['peak sum PSS GiB'] / args.mem_gib:.2f}x; a private copy per child is"
          f" {args.mem_children}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent-seconds", type=float, default=20.0)
    parser.add_argument("--children", type=int, default=12)
    parser.add_argument("--overhead-children", type=int, default=8)
    parser.add_argument("--mem-children", type=int, default=3)
    parser.add_argument("--mem-gib", type=float, default=1.0)
    parser.add_argument("--parts", default="abc", help="which parts to run, e.g. 'c'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nbgraph-bench-") as tmp:
        os.environ.setdefault("NBGRAPH_KEY_FILE", str(Path(tmp) / "key"))
        root = Path(tmp)
        if "a" in args.parts:
            part_a(root, args)
        if "b" in args.parts:
            part_b(root, args)
        if "c" in args.parts:
            part_c(root, args)


if __name__ == "__main__":
    main()
