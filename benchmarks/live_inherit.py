"""Starting a child notebook from a live parent in JupyterLab: three ways, side by side.

A real ``jupyter server`` (temporary folders, like the tests) holds a parent notebook whose
cells take a while (a stand-in for a slow query: ``--slow`` seconds of sleep) and build a
state (a float64 array of ``--mb`` MB and 100k small dicts).  In one session, each
starting from a fresh child kernel:

* content copy: the child re-executes the parent's cells;
* the seed's way: ``dill.dump_session`` in the parent, ``dill.load_session`` in the child;
* nbgraph: ``inherit_from("parent.ipynb")`` in the child (signed snapshot, no trace in the parent).

Prints each wall time and the ratios to nbgraph.

    PYTHONPATH=. python benchmarks/live_inherit.py [--mb 200] [--slow 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])

from jupyter_live import live_server  # noqa: E402


def parent_cells(mb: int, slow: float) -> list[str]:
    return [
        f"import time\ntime.sleep({slow})  # the slow query",
        f"import numpy as np\narr = np.random.default_rng(0).random({mb} * 2**20 // 8)",
        "rows = [{'id': i, 'name': f'row{i}', 'score': i * 0.5} for i in range(100_000)]",
        "def summary():\n    return arr.mean(), len(rows)",
    ]


def timed(kernel, code: str) -> float:
    started = time.perf_counter()
    kernel.run(code, timeout=600)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the parent's array")
    parser.add_argument("--slow", type=float, default=5.0, help="seconds the parent's slow step takes")
    args = parser.parse_args()
    cells = parent_cells(args.mb, args.slow)
    check = "assert summary()[1] == 100_000 and arr.nbytes == {} * 2**20 // 8 * 8".format(args.mb)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("NBGRAPH_KEY_FILE", str(Path(tmp) / "snapshot.key"))
        with live_server(Path(tmp) / "jupyter") as server:
            server.open("parent.ipynb", *cells)
            times = {}

            child = server.open("copy.ipynb")
            times["content copy (re-run the parent's cells)"] = timed(child, "\n".join(cells)) + timed(child, check)
            child.close()

            dump = Path(tmp) / "session.pkl"
            child = server.open("seed.ipynb")
            parent = server.kernels[0]
            seed = timed(parent, f"import dill\ndill.dump_session({str(dump)!r})")
            seed += timed(child, f"import dill\ndill.load_session({str(dump)!r})") + timed(child, check)
            times["dill.dump_session + load_session (the seed)"] = seed
            parent.run("del dill")
            child.close()

            child = server.open("nbgraph.ipynb")
            times["nbgraph inherit_from"] = timed(child, "from nbgraph import inherit_from\n"
                                                         "inherit_from('parent.ipynb')") + timed(child, check)
            child.close()

    ours = times["nbgraph inherit_from"]
    print(f"parent: {args.slow:g} s slow step, {args.mb} MB array, 100k small dicts")
    for name, seconds in times.items():
        print(f"  {name:<46} {seconds:7.2f} s   {seconds / ours:5.2f}x nbgraph")


if __name__ == "__main__":
    main()
