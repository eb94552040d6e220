"""Fork-server kernels against fresh kernels and papermill alone, side by side in one run.

    PYTHONPATH=. python benchmarks/bench_fork.py [--repeat 5] [--gib 1.0] [--children 8] [--skip-memory]

1. Kernel ready: start + ``wait_for_ready`` of a forked kernel vs a normal one (target <= 0.1 s).
2. Per-child overhead, from "parent snapshot written" to the child's first cell and to its
   executed notebook on disk: papermill alone (no inheritance: the fixed cost of a run), a
   fresh kernel loading the snapshot (nbgraph without forking), the first forked child (a
   spare zygote, warmed while the parent ran, loads the snapshot) and a later forked child
   (target end to end <= 0.25 s).
3. Memory: summed Pss (/proc/PID/smaps_rollup) of 4 idle children of a parent holding
   ``--gib`` GiB, each having read the array once, forked vs fresh (target <= 1.3 GiB for 1 GiB).
4. Fan-out: ``nbgraph run`` of 1 parent + ``--children`` children, with and without forking.

Figures are medians; what counts are the ratios printed in the last column.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)  # see FIELD-NOTES: keeps imports fast

import nbformat  # noqa: E402
from common import write_notebook  # noqa: E402

from nbgraph.kernels.fork.manager import Zygote  # noqa: E402
from nbgraph.kernels.fork.provisioner import ForkKernelManager  # noqa: E402
from nbgraph.kernels.run import Job, run_job  # noqa: E402
from nbgraph.snapshot.format import dump_namespace  # noqa: E402

GIB = 1 << 30


def _first_cell_delay(executed: Path) -> float:
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            if text.startswith("first "):
                return float(text.split()[1])
    raise RuntimeError(f"{executed}: no first-cell timestamp")


def _row(label: str, value: float, base: float | None, unit: str = "s") -> None:
    ratio = f"{base / value:6.1f}x" if base else ""
    print(f"  {label:<44} {value:8.3f} {unit}  {ratio}")


# -- 1. kernel ready --------------------------------------------------------------------
async def _ready_once(manager) -> float:
    started = time.perf_counter()
    await manager.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"])
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    ready = time.perf_counter() - started
    client.stop_channels()
    await manager.shutdown_kernel()
    return ready


def bench_ready(work: Path, snapshot: Path, repeat: int) -> None:
    from jupyter_client.manager import AsyncKernelManager

    zygote = Zygote()
    try:
        assert zygote.load([("parent", str(snapshot))], str(work))["ok"]
        forked = [asyncio.run(_ready_once(ForkKernelManager(kernel_name="python3", zygote=zygote.address)))
                  for _ in range(repeat)]
    finally:
        zygote.close()
    fresh = [asyncio.run(_ready_once(AsyncKernelManager(kernel_name="python3"))) for _ in range(repeat)]
    print("\n1. kernel ready (start + wait_for_ready), median of", repeat)
    _row("normal kernel (jupyter_client)", statistics.median(fresh), None)
    _row("forked kernel", statistics.median(forked), statistics.median(fresh))


# -- 2. per-child overhead --------------------------------------------------------------
def bench_overhead(work: Path, snapshot: Path, repeat: int) -> None:
    child = write_notebook(work / "child.ipynb", 'import time\nprint("first", time.time() - t0)', "x = 1",
                      parameters="t0 = 0.0")
    bare = write_notebook(work / "bare.ipynb", 'import time\nprint("first", time.time() - t0)', "x = 1",
                     parameters="t0 = 0.0")
    import papermill

    def job(i: int, t0: float, fork_from: str | None = None) -> Job:
        return Job(variant=f"child{i}", node="child", notebook=str(child), output=str(work / f"out{i}" / "child.ipynb"),
                   cwd=str(work), params={"t0": t0}, inherit=(("parent", str(snapshot)),), fork_from=fork_from)

    results: dict[str, list[tuple[float, float]]] = {k: [] for k in ("papermill", "fresh", "fork1", "forkn")}
    for i in range(repeat):
        t0 = time.time()
        papermill.execute_notebook(str(bare), str(work / "bare.out.ipynb"), parameters={"t0": t0},
                                   kernel_name="python3", progress_bar=False)
        results["papermill"].append((_first_cell_delay(work / "bare.out.ipynb"), time.time() - t0))

        t0 = time.time()
        outcome = run_job(job(i, t0))
        assert outcome.ok, outcome.error
        results["fresh"].append((_first_cell_delay(Path(outcome.output)), time.time() - t0))

        zygote = Zygote()  # the spare, started while the parent runs
        try:
            time.sleep(2.0)  # ... which takes longer than the zygote's imports
            t0 = time.time()  # the parent's snapshot is written
            reply = zygote.load([("parent", str(snapshot))], str(work))
            assert reply["ok"], reply
            outcome = run_job(job(i, t0, zygote.address))
            assert outcome.ok, outcome.error
            results["fork1"].append((_first_cell_delay(Path(outcome.output)), time.time() - t0))
            t0 = time.time()
            outcome = run_job(job(i, t0, zygote.address))
            assert outcome.ok, outcome.error
            results["forkn"].append((_first_cell_delay(Path(outcome.output)), time.time() - t0))
        finally:
            zygote.close()

    med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in results.items()}
    labels = {"papermill": "papermill alone (no inheritance)", "fresh": "fresh kernel + snapshot load (--no-fork)",
              "fork1": "forked, first child (zygote loads)", "forkn": "forked, later child"}
    size = sum(f.stat().st_size for f in snapshot.iterdir()) / 1e6
    print(f"\n2. per-child overhead from 'parent snapshot written' ({size:.0f} MB snapshot), median of {repeat}")
    print("   to the child's first cell:")
    for k in labels:
        _row(labels[k], med[k][0], med["fresh"][0] if k != "fresh" else None)
    print("   end to end (executed notebook on disk):")
    for k in labels:
        _row(labels[k], med[k][1], med["fresh"][1] if k != "fresh" else None)


# -- 3. memory -------------------------------------------------------------------------
def _pss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss for {pid}")


async def _children_pss(managers, code: str | None, also: tuple[int, ...] = ()) -> tuple[list[int], list[int]]:
    """Pss of each idle kernel (and of the ``also`` processes, measured at the same time)."""
    clients = []
    for manager in managers:
        await manager.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"])
        client = manager.client()
        client.start_channels()
        await client.wait_for_ready(timeout=120)
        clients.append(client)
    if code:
        for client in clients:
            reply = await client.execute_interactive(code, timeout=600, output_hook=lambda m: None)
            assert reply["content"]["status"] == "ok", reply["content"]
    await asyncio.sleep(1.0)
    pids = [m.provisioner.pid for m in managers]
    sizes, others = [_pss(pid) for pid in pids], [_pss(pid) for pid in also]
    for manager, client in zip(managers, clients):
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    return sizes, others


#: each child reads its inherited array once (a memory-mapped buffer is only resident once read)
READ = "_ = float(big.sum())"


def bench_memory(work: Path, gib: float, n: int = 4) -> None:
    import numpy as np
    from jupyter_client.manager import AsyncKernelManager

    big = work / "big-snapshot"
    state = {"big": np.random.default_rng(0).random(int(gib * GIB) // 8)}
    dump_namespace(state, big)
    del state
    zygote = Zygote()
    try:
        assert zygote.load([("parent", str(big))], str(work))["ok"]
        zygote_alone = _pss(zygote.pid)
        forked, (zygote_pss,) = asyncio.run(_children_pss(
            [ForkKernelManager(kernel_name="python3", zygote=zygote.address) for _ in range(n)], READ, (zygote.pid,)))
    finally:
        zygote.close()
    load = f"__import__('nbgraph.notebook.inject', fromlist=['inherit']).inherit([['parent', {str(big)!r}]], globals())"
    fresh, _ = asyncio.run(_children_pss([AsyncKernelManager(kernel_name="python3") for _ in range(n)],
                                         f"{load}\n{READ}"))
    print(f"\n3. memory: {n} idle children of a parent holding {gib:g} GiB, after reading it (summed Pss)")
    _row(f"{n} fresh kernels, each loading the snapshot", sum(fresh) / GIB, None, "GiB")
    _row(f"{n} forked kernels", sum(forked) / GIB, sum(fresh) / GIB, "GiB")
    _row(f"{n} forked kernels + their zygote (alone {zygote_alone / GIB:.2f})", (sum(forked) + zygote_pss) / GIB,
         sum(fresh) / GIB, "GiB")
    import shutil

    shutil.rmtree(big, ignore_errors=True)


# -- 4. fan-out ------------------------------------------------------------------------
def bench_fanout(work: Path, children: int, repeat: int) -> None:
    from nbgraph import runner

    write_notebook(work / "parent.ipynb", "import numpy as np\nframe = np.random.default_rng(0).random((1_000_000, 12))",
              "def score(a):\n    return float((frame[:, :3] * a).sum())")
    write_notebook(work / "fan.ipynb", "print(score(alpha))", parameters="alpha = 0.0")
    (work / "inheritance.yaml").write_text(textwrap.dedent(f"""
        notebooks:
          parent: {{path: parent.ipynb}}
          fan:
            path: fan.ipynb
            parent: parent
            snapshot: false
            grid: {{alpha: {[round(0.1 * i, 1) for i in range(1, children + 1)]}}}
        """))
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeat):
        for fork in (False, True):
            result = runner.run(work / "inheritance.yaml", force=True, fork=fork)
            assert result.ok
            times[fork].append(result.wall_time)
    print(f"\n4. fan-out: 1 parent (96 MB state) + {children} children, nbgraph run wall time, median of {repeat}")
    _row("fresh kernels (--no-fork)", statistics.median(times[False]), None)
    _row("forked kernels", statistics.median(times[True]), statistics.median(times[False]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gib", type=float, default=1.0, help="parent state for the memory figure (GiB)")
    ap.add_argument("--children", type=int, default=8)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("NBGRAPH_KEY_FILE", str(Path(tempfile.mkdtemp()) / "bench.key"))
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="bench-fork-") as tmp:
        work = Path(tmp)
        snapshot = work / "snapshot"
        dump_namespace({"data": np.arange(1_000_000, dtype=float), "params": {"a": 1}, "names": ["x"] * 100},
                       snapshot)
        bench_ready(work, snapshot, args.repeat)
        bench_overhead(work, snapshot, args.repeat)
        if not args.skip_memory:
            bench_memory(work, args.gib)
        bench_fanout(work, args.children, max(1, args.repeat // 2))


if __name__ == "__main__":
    main()
