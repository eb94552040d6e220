"""Gallery: real notebooks as parents, each with a trivial child; what arrives, with and without rebuild.

Every notebook of a folder (a public collection you have on disk, e.g. the notebooks of a
book's repository, with their data files beside them) becomes a parent node with one trivial
child.  The graph runs once with rebuilding on; then only the children run again with
``--no-rebuild`` (the parents' snapshots are reused).  Per notebook it prints how many
variables the child got *inherited* (copied), *rebuilt* and *not inherited*, with and
without rebuild, and the time the rebuild took; then the reasons for what did not arrive.
Notebooks that fail as parents (they need the network, or raise on purpose) are listed and
left out of the counts.

    python benchmarks/gallery_rebuild.py FOLDER [--glob '0[2-5]*.ipynb'] [--limit N] [--jobs 2] [--keep-going]

The notebooks are copied into a temporary folder (with everything beside them); the originals are
never changed.  ``--keep-going`` tags every code cell of the copies ``raises-exception`` (papermill
then runs past a cell that raises, though it still fails the notebook), then drops from the copy
of each failed notebook the cells that raised, and runs those again (``--rounds`` times at most):
notebooks that raise on purpose, or need something missing offline, still get a state.  The
report says how many cells were dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.modules.setdefault("rfc3987_syntax", None)
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])

from common import write_notebook  # noqa: E402

INHERITED = re.compile(r"nbgraph: inherited (\d+) variables from ")


def _spec(notebooks: list[Path], timeout: int) -> str:
    lines = [f"timeout: {timeout}", "notebooks:"]
    for i, nb in enumerate(notebooks):
        lines.append(f"  nb{i}: {{path: {json.dumps(nb.name)}}}")
        lines.append(f"  child{i}: {{path: child.ipynb, parent: nb{i}}}")
    return "\n".join(lines) + "\n"


def _nbgraph(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbgraph", *args], cwd=folder, capture_output=True, text=True)


def _counts(folder: Path, rows: dict, i: int) -> dict | None:
    row = rows.get(f"child{i}")
    if row is None or row["status"] != "succeeded":
        return None
    import nbformat

    nb = nbformat.read(row["output"], as_version=4)
    note = "".join(o.get("text", "") for o in nb.cells[0].get("outputs", []))
    found = INHERITED.search(note)
    return {"inherited": int(found.group(1)) if found else 0, "rebuilt": len(row["rebuilt"]),
            "missing": len(row["not_inherited"]), "seconds": row["rebuild_seconds"] or 0.0,
            "reasons": [m["reason"].split("; not rebuilt: ")[-1] for m in row["not_inherited"]],
            "rebuilt_types": [r["type"] for r in row["rebuilt"]], "missing_types": [m["type"] for m in row["not_inherited"]]}


def _keep_going(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.metadata.setdefault("tags", []).append("raises-exception")
    nbformat.write(nb, path)


def _drop_raising_cells(work: Path, notebooks: list[Path], rows: dict) -> int:
    """From the copy of each failed notebook, the code cells whose executed copy shows an error."""
    import nbformat

    dropped = 0
    for i, nb in enumerate(notebooks):
        row = rows.get(f"nb{i}") or {}
        if row.get("status") != "failed" or not row.get("output"):
            continue
        executed = nbformat.read(row["output"], as_version=4)
        raised = {c.source for c in executed.cells
                  if any(o.get("output_type") == "error" for o in c.get("outputs", []))}
        copy = nbformat.read(work / nb.name, as_version=4)
        kept = [c for c in copy.cells if c.cell_type != "code" or c.source not in raised]
        dropped += len(copy.cells) - len(kept)
        copy.cells = kept
        nbformat.write(copy, work / nb.name)
    return dropped


def _status(folder: Path) -> dict:
    return {r["name"]: r for r in json.loads(_nbgraph(folder, "status", "--json").stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--glob", default="*.ipynb")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--timeout", type=int, default=120)
    parser.add_argument("--keep-going", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    notebooks = sorted(args.folder.glob(args.glob))[: args.limit or None]
    work = Path(tempfile.mkdtemp(prefix="nbgraph-gallery-"))
    shutil.copytree(args.folder, work, dirs_exist_ok=True)
    if args.keep_going:
        for nb in notebooks:
            _keep_going(work / nb.name)
    write_notebook(work / "child.ipynb", "pass")
    (work / "inheritance.yaml").write_text(_spec(notebooks, args.timeout))
    started = time.monotonic()
    first = _nbgraph(work, "run", "--jobs", args.jobs)
    with_rebuild = _status(work)
    dropped = 0
    for _ in range(args.rounds if args.keep_going else 0):
        pruned = _drop_raising_cells(work, notebooks, with_rebuild)
        if not pruned:
            break
        dropped += pruned
        first = _nbgraph(work, "run", "--jobs", args.jobs)
        with_rebuild = _status(work)
    wall = time.monotonic() - started
    if dropped:
        print(f"dropped {dropped} cells that raised (in the copies), to let their notebooks run")
    children = [a for i in range(len(notebooks)) if with_rebuild.get(f"nb{i}", {}).get("status") == "succeeded"
                for a in ("--only", f"child{i}")]
    _nbgraph(work, "run", "--force", "--no-rebuild", "--jobs", args.jobs, *children)
    without = _status(work)
    _report(notebooks, with_rebuild, without, work, wall, first)
    shutil.rmtree(work, ignore_errors=True)


def _report(notebooks: list[Path], with_rebuild: dict, without: dict, work: Path, wall: float, first) -> None:
    print(f"{len(notebooks)} notebooks from {notebooks[0].parent if notebooks else '?'}; first run {wall:.0f}s")
    print(f"{'notebook':<48} {'inherited':>9} {'rebuilt':>7} {'missing':>7} | {'no-rebuild missing':>18} {'rebuild s':>9}")
    totals = Counter()
    reasons: Counter = Counter()
    failed = []
    for i, nb in enumerate(notebooks):
        on, off = _counts(work, with_rebuild, i), _counts(work, without, i)
        if on is None or off is None:
            failed.append(f"{nb.name}: {(with_rebuild.get(f'nb{i}') or {}).get('error') or 'child did not run'}")
            continue
        print(f"{nb.name[:48]:<48} {on['inherited']:>9} {on['rebuilt']:>7} {on['missing']:>7} | "
              f"{off['missing']:>18} {on['seconds']:>9.4f}")
        totals.update(notebooks=1, inherited=on["inherited"], rebuilt=on["rebuilt"], missing=on["missing"],
                      off_missing=off["missing"], with_unpicklable=int(off["missing"] > 0),
                      all_arrive=int(off["missing"] > 0 and on["missing"] == 0))
        totals["seconds"] += on["seconds"]
        reasons.update(on["reasons"])
        totals.update(Counter(f"rebuilt {t}" for t in on["rebuilt_types"]))
    print(f"\ntotal over {totals['notebooks']} notebooks that ran: inherited {totals['inherited']}, rebuilt "
          f"{totals['rebuilt']}, not inherited {totals['missing']} (without rebuild: {totals['off_missing']}); "
          f"{totals['with_unpicklable']} notebooks left something out without rebuild, "
          f"{totals['all_arrive']} of them get every variable with it; rebuild time {totals['seconds']:.3f}s in all")
    for key in sorted(k for k in totals if k.startswith("rebuilt ")):
        print(f"  {key}: {totals[key]}")
    for reason, n in reasons.most_common():
        print(f"  not inherited x{n}: {reason}")
    for line in failed:
        print(f"  left out (parent did not run): {line}")


if __name__ == "__main__":
    main()
