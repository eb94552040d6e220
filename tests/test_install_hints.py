"""Install hints name this project, from a checkout and from the package index alike.

``nbgraph`` on the index is an unrelated project: a hint that says ``pip install
'nbgraph[s3]'`` installs that one.  Slow: it builds and installs a real wheel.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbgraph.extras import DISTRIBUTION, install_hint

CHECKOUT = Path(__file__).resolve().parents[1]


def test_from_the_editable_checkout_the_hint_installs_the_checkout():
    assert install_hint("s3") == f"pip install -e '{CHECKOUT}[s3]'"


@pytest.mark.slow
def test_from_an_installed_wheel_the_hint_names_the_distribution_on_the_index(tmp_path):
    source, target = tmp_path / "source", tmp_path / "site"  # a copy: building writes build/ beside the source
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    shutil.copytree(CHECKOUT / "nbgraph", source / "nbgraph", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=300)
    probe = "import nbgraph, nbgraph.extras as x; print(nbgraph.__file__); print(x.install_hint('s3'))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    where, hint = done.stdout.strip().splitlines()
    assert where.startswith(str(target))  # the installed copy, not the checkout
    assert hint == f"pip install '{DISTRIBUTION}[s3]'"
    assert DISTRIBUTION != "nbgraph"
