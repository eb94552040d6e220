"""Shared fixtures: real notebooks in a temporary folder, a private signing key, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import psutil
import pytest

sys.modules.setdefault("rfc3987_syntax", None)
pytest_plugins = ["fast_lane"]  # a test that starts kernels must be marked slow: fast_lane checks it

REPO = Path(__file__).resolve().parent.parent
# kernels and CLI subprocesses must import the nbgraph under test, not another checkout
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])


@pytest.fixture(autouse=True, scope="session")
def _private_key(tmp_path_factory):
    """Never touch the developer's real key: every test session signs with its own."""
    key = tmp_path_factory.mktemp("key") / "snapshot.key"
    old = os.environ.get("NBGRAPH_KEY_FILE")
    os.environ["NBGRAPH_KEY_FILE"] = str(key)
    yield key
    if old is None:
        os.environ.pop("NBGRAPH_KEY_FILE", None)
    else:
        os.environ["NBGRAPH_KEY_FILE"] = old


def write_notebook(path: Path, *cells: str, parameters: str | None = None, kernel: str = "python3") -> Path:
    """A real .ipynb with these code cells; ``parameters`` becomes the tagged parameters cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(textwrap.dedent(parameters).strip())
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_spec(folder: Path, text: str) -> Path:
    spec = folder / "inheritance.yaml"
    spec.write_text(textwrap.dedent(text).lstrip())
    return spec


def chunk_files(snapshot: Path) -> list[Path]:
    """The chunk files a snapshot's manifest references, in order (see ``nbgraph.snapshot.chunks``)."""
    import json

    from nbgraph.snapshot.chunks import chunk_path

    manifest = json.loads((Path(snapshot) / "manifest.json").read_text())
    objects = (Path(snapshot) / manifest["objects"]).resolve()
    return [chunk_path(objects, name) for _, names in manifest["buffers"] for name in names]


def flip_byte(path: Path, offset: int) -> None:
    """Change one bit of a file (a chunk is read-only: nbgraph never writes one twice)."""
    os.chmod(path, 0o600)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 1]))


def outputs_of(path: Path) -> list[str]:
    """Text of every stream output of an executed notebook, cell by cell."""
    nb = nbformat.read(path, as_version=4)
    return ["".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream")
            for c in nb.cells if c.cell_type == "code"]


#: a cell that appends its kernel's pid to ./pids.txt, so a test can check the kernel is gone
PID_CELL = "import os\nopen('pids.txt', 'a').write(f'{os.getpid()}\\n')"


def pids(project) -> list[int]:
    """The pids :data:`PID_CELL` recorded in ``project``."""
    path = project.root / "pids.txt"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real ``nbgraph`` command in a subprocess (exit codes, one-line errors)."""
    return subprocess.run([sys.executable, "-m", "nbgraph", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def project(tmp_path):
    """A temporary study folder with helpers bound to it."""

    class Project:
        root = tmp_path

        def notebook(self, rel: str, *cells: str, parameters: str | None = None) -> Path:
            return write_notebook(tmp_path / rel, *cells, parameters=parameters)

        def spec(self, text: str) -> Path:
            return write_spec(tmp_path, text)

        def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
            return run_cli(*args, cwd=tmp_path, timeout=timeout)

    return Project()


@pytest.fixture(scope="module")
def s3():
    """A real S3 endpoint (moto's server) with the bucket ``nbgraph-builds``: (endpoint URL, boto3 client)."""
    moto_server = pytest.importorskip("moto.server")
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="nbgraph-builds")
    yield endpoint, client
    mp.undo()
    server.stop()


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    """Debian's Chromium (``.ci/run`` installs it), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def browser_dom(browser: str, page: Path, profile: Path, fragment: str = "") -> str:
    """The page's DOM after a real headless browser loaded it and ran its scripts."""
    done = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                           page.as_uri() + fragment], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
