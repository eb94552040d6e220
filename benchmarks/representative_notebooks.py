"""A representative (hand-written, not public) set of notebooks holding what snapshots cannot copy.

Public notebook collections that run offline rarely keep connections or open files in their
namespace at the end, so this writes, into FOLDER, small notebooks in the style of everyday
analysis that do: a sqlite study, log parsing with an open file and a csv reader, a checksum
pass with hashlib, a batch generator, a lock-guarded cache, a logging file handler, a tqdm
bar, a temporary file.  Run ``gallery_rebuild.py FOLDER`` on it.  Label its counts as this set's,
never as a public collection's.

    python benchmarks/representative_notebooks.py FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_notebook  # noqa: E402

NOTEBOOKS = {
    "sqlite_study": [
        "import sqlite3, time\nDB = 'study.db'",
        "conn = sqlite3.connect(DB)\nconn.execute('create table if not exists sales (region, amount)')\n"
        "conn.executemany('insert into sales values (?, ?)', [('n', 1), ('s', 2)] * 500)\nconn.commit()\n"
        "time.sleep(1)  # the slow query\ntotals = conn.execute('select region, sum(amount) from sales group by region').fetchall()",
        "cur = conn.cursor()\nconn.row_factory = sqlite3.Row",
    ],
    "log_parsing": [
        "import csv, itertools\nopen('events.csv', 'w').write('kind,n\\n' + 'a,1\\nb,2\\n' * 100)",
        "handle = open('events.csv', newline='')\nrows = csv.reader(handle)\nheader = next(rows)",
        "first = list(itertools.islice(rows, 10))\ngroups = itertools.groupby(first, key=lambda r: r[0])",
    ],
    "checksums": [
        "import hashlib\nopen('blob.bin', 'wb').write(bytes(range(256)) * 1000)",
        "sha = hashlib.sha256()\nmd5 = hashlib.md5()\nwith open('blob.bin', 'rb') as f:\n    data = f.read()\n"
        "sha.update(data)\nmd5.update(data[:100])",
    ],
    "batches": [
        "import random\nrandom.seed(0)\nitems = list(range(1000))",
        "def batches(xs, n):\n    for i in range(0, len(xs), n):\n        yield xs[i:i + n]\n\nfeed = batches(items, 100)",
        "warmup = next(feed)\nsquares = (x * x for x in items)\ncounter = iter(range(10))",
    ],
    "cache_with_lock": [
        "import threading, functools\nlock = threading.RLock()\ncache = {}",
        "event = threading.Event()\nsem = threading.Semaphore(2)\ndone = threading.Condition(lock)",
    ],
    "logging_setup": [
        "import logging\nlogger = logging.getLogger('study')\nhandler = logging.FileHandler('study.log')\n"
        "logger.addHandler(handler)\nlogger.warning('started')",
        "stream = logging.StreamHandler()\nout = open('report.txt', 'w')\nout.write('report\\n')",
    ],
    "progress": [
        "from tqdm.auto import tqdm\nbar = tqdm(total=3)\nbar.update(1)",
        "import tempfile\nscratch = tempfile.TemporaryFile()\nscratch.write(b'x')",
    ],
    "config_reader": [
        "import json, os\nos.makedirs('conf', exist_ok=True)\njson.dump({'a': 1}, open('conf/a.json', 'w'))",
        "conf = open('conf/a.json')\nsettings = json.load(conf)\nlines = iter(['x', 'y'])",
        "paths = (p for p in os.listdir('conf'))\nfirst_path = next(paths)",
    ],
}


def main() -> None:
    folder = Path(sys.argv[1])
    for name, cells in NOTEBOOKS.items():
        write_notebook(folder / f"{name}.ipynb", *cells)
    print(f"wrote {len(NOTEBOOKS)} notebooks to {folder}")


if __name__ == "__main__":
    main()
