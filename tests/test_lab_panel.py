"""The nbgraph panel in a real JupyterLab, driven by Playwright in Debian's Chromium.

One ``jupyter lab`` per module (the extension enabled by the config ``pip install`` put in
the environment, as a user gets it), one browser, one small study whose leaves sleep a
little so the panel's intermediate states can be seen.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import chromium, run_cli, write_notebook, write_spec
from jupyter_live import JupyterServer, LiveKernel

pytestmark = [pytest.mark.slow, pytest.mark.skipif(chromium() is None, reason="no chromium: .ci/run installs it")]
playwright = pytest.importorskip("playwright.sync_api")

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync"]
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "panel.png"
SPEC = """\
# the panel's study: a base and three leaves
notebooks:
  base:
    path: base.ipynb
  leaf:
    path: leaf.ipynb
    parent: base
    grid: {x: [1, 2, 3]}
"""


def make_study(root: Path) -> None:
    write_notebook(root / "base.ipynb", "offset = 10\nimport time\ntime.sleep(1)")
    write_notebook(root / "leaf.ipynb", "import time\ntime.sleep(1.5)\nimport nbgraph\n"
                   "nbgraph.record('score', offset + x / 4)\nprint('marker-output', x)", parameters="x = 0")
    write_notebook(root / "extra.ipynb", "print('a notebook to add')")
    write_spec(root, SPEC)
    (root / "fails").mkdir()
    write_notebook(root / "fails" / "base.ipynb", "offset = 1")
    write_notebook(root / "fails" / "bad.ipynb", "raise ValueError('broken on purpose')")
    write_spec(root / "fails", "notebooks:\n  base: {path: base.ipynb}\n  bad: {path: bad.ipynb, parent: base}\n")
    (root / "slow").mkdir()
    write_notebook(root / "slow" / "wait.ipynb", "import time\ntime.sleep(10)")
    write_spec(root / "slow", "notebooks:\n  wait: {path: wait.ipynb}\n")
    (root / "broken").mkdir()
    write_spec(root / "broken", "notebooks:\n  a: {path: a.ipynb, parent: nowhere}\n")


def test_the_installed_panel_is_the_one_built_from_this_checkout():
    """``pip install -e`` copies the built assets into the environment: a rebuild needs a reinstall."""
    import sys

    built = Path(__file__).resolve().parents[1] / "nbgraph" / "lab" / "labextension" / "static"
    installed = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "nbgraph" / "static"
    assert sorted(p.name for p in installed.iterdir()) == sorted(p.name for p in built.iterdir()), \
        "the environment holds another build of the panel: pip install -e . again"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    make_study(base / "root")
    server = JupyterServer(base, "--LabApp.news_url=", "--ServerApp.open_browser=False", app="jupyterlab",
                           installed_config=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        yield b
        b.close()


_pages = itertools.count()


def open_lab(browser, server: JupyterServer, path: str = "", *, by_command: bool = False):
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    workspace = f"w{next(_pages)}"  # a fresh workspace: no layout restored from an earlier page
    page.goto(f"{server.url}lab/workspaces/{workspace}{'/tree/' + path if path else ''}?token={server.token}")
    page.wait_for_selector(".jp-LabShell", timeout=60_000)
    if by_command:
        palette(page, "Open the nbgraph panel")
    else:
        page.click('.lm-TabBar-tab[data-id="nbgraph-panel"]')
    return page


def palette(page, label: str) -> None:
    """Run a command from Lab's command palette, as a user types it."""
    page.wait_for_selector('.lm-TabBar-tab[data-id="nbgraph-panel"]', timeout=30_000)
    field = page.locator(".lm-CommandPalette-input")
    for _ in range(6):  # on a busy machine Lab may not take the first key press yet (its shortcuts bind late)
        if field.is_visible():
            break
        page.keyboard.press("Control+Shift+C")
        page.wait_for_timeout(500)
        try:
            field.wait_for(state="visible", timeout=5_000)
        except Exception:  # playwright's TimeoutError: press again
            continue
    page.fill(".lm-CommandPalette-input", label)
    page.click(f'.lm-CommandPalette-item:has-text("{label}")')


def statuses(page) -> dict[str, str]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#nbgraph-panel [data-nbgraph-node]')]
        .map(e => [e.dataset.nbgraphNode, e.dataset.nbgraphStatus]))""")


def test_run_from_the_panel_then_open_a_variant_and_a_notebook_from_its_state(lab, browser, tmp_path):
    page = open_lab(browser, lab)
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-node="leaf"]', timeout=30_000)
    assert statuses(page) == {"base": "pending", "leaf": "pending"}
    page.evaluate("""() => { window.__seen = []; new MutationObserver(ms => ms.forEach(() =>
        document.querySelectorAll('#nbgraph-panel [data-nbgraph-node]').forEach(e =>
          window.__seen.push(e.dataset.nbgraphNode + ':' + e.dataset.nbgraphStatus))))
        .observe(document.getElementById('nbgraph-panel'), {subtree: true, childList: true, attributes: true}); }""")
    page.click('#nbgraph-panel [data-nbgraph-action="run"]')
    page.wait_for_function("""() => [...document.querySelectorAll('#nbgraph-panel [data-nbgraph-node]')]
        .every(e => e.dataset.nbgraphStatus === 'succeeded') && document.querySelector('[data-nbgraph-run="succeeded"]')""",
                           timeout=120_000)
    seen = set(page.evaluate("window.__seen"))
    assert {"base:running", "leaf:running", "base:succeeded"} <= seen, seen  # it went green live, not at once
    done = run_cli("status", "--json", cwd=lab.root)
    assert '"status": "pending"' not in done.stdout  # the terminal sees what the panel ran

    page.click('#nbgraph-panel [data-nbgraph-node="leaf"]')  # the box expands the node's variant list
    variant = page.locator('#nbgraph-panel [data-nbgraph-variant="leaf[x=2]"]')
    variant.wait_for(timeout=10_000)
    assert variant.get_attribute("data-nbgraph-status") == "succeeded"
    assert "score=10.5" in variant.inner_text() and "up to date" in variant.inner_text()
    assert page.locator('#nbgraph-panel [data-nbgraph-result="leaf[x=3]"]').inner_text().split()[-1] == "10.75"
    assert page.locator('#nbgraph-panel [data-nbgraph-chart="score"] rect').count() == 3
    shot(page, tmp_path)

    variant.locator('[data-nbgraph-action="open"]').click()
    page.wait_for_selector('.jp-NotebookPanel .jp-OutputArea-output:has-text("marker-output 2")', timeout=30_000)
    assert (lab.root / "build/lab/leaf/x=2/leaf.ipynb").is_file()  # a copy: the build's own file stays as run

    variant.locator('[data-nbgraph-action="new-from-variant"]').click()
    made = lab.root / "leaf-from-leaf.ipynb"
    page.wait_for_selector('.jp-NotebookPanel .jp-InputArea:has-text("inherit_from")', timeout=30_000)
    kernel = kernel_of(lab, made.name)
    try:
        deadline = time.monotonic() + 60
        while "offset" not in (ns := kernel.namespace()):
            assert time.monotonic() < deadline, ns
            time.sleep(0.3)
        assert ns["offset"] == "10" and ns["x"] == "2"  # base's state, and the variant's parameter
    finally:
        kernel.client.stop_channels()
    page.close()


def kernel_of(server: JupyterServer, path: str, timeout: float = 60) -> LiveKernel:
    """A client on the kernel Lab started for ``path``."""
    deadline = time.monotonic() + timeout
    while True:
        sessions = [s for s in server.api("GET", "api/sessions") if s["path"] == path and s.get("kernel")]
        if sessions:
            return LiveKernel(server, path, sessions[0])
        assert time.monotonic() < deadline, server.api("GET", "api/sessions")
        time.sleep(0.3)


def shot(page, tmp_path: Path) -> None:
    """The README's picture of the panel after a run (written to docs/ when NBGRAPH_SCREENSHOT=1)."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    if box:  # a wider sidebar, as a user would drag it
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 200)
        page.mouse.down()
        page.mouse.move(box["x"] + 260, box["y"] + 200, steps=5)
        page.mouse.up()
    panel = page.locator("#nbgraph-panel")
    target = SCREENSHOT if os.environ.get("NBGRAPH_SCREENSHOT") == "1" else tmp_path / "panel.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(target))
    assert target.stat().st_size > 10_000


def test_stop_interrupts_a_forced_run_from_the_panel(lab, browser):
    page = open_lab(browser, lab)
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-node="leaf"][data-nbgraph-status="succeeded"]', timeout=30_000)
    assert page.locator('#nbgraph-panel [data-nbgraph-action="stop"]').is_disabled()
    page.click('#nbgraph-panel [data-nbgraph-action="force"]')
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-node="base"][data-nbgraph-status="running"]', timeout=60_000)
    page.click('#nbgraph-panel [data-nbgraph-action="stop"]')
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-run="interrupted"]', timeout=60_000)
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-action="run"]:not([disabled])', timeout=10_000)
    assert run_cli("run", "--dry-run", cwd=lab.root).returncode == 0  # the lock is free; records as before
    assert set(statuses(page).values()) <= {"succeeded", "stale"}
    page.close()


def test_a_run_from_a_terminal_shows_in_the_panel_as_it_goes(lab, browser):
    import subprocess
    import sys

    page = open_lab(browser, lab, "slow")
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-node="wait"]', timeout=30_000)
    terminal = subprocess.Popen([sys.executable, "-m", "nbgraph", "run"], cwd=lab.root / "slow",
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        busy = page.locator('#nbgraph-panel [data-nbgraph-busy]')
        busy.wait_for(timeout=30_000)  # the idle poll (4 s) sees the lock
        assert f"pid {terminal.pid} " in busy.inner_text()
        page.click('#nbgraph-panel [data-nbgraph-action="run"]')
        refused = page.locator('#nbgraph-panel [data-nbgraph-error="notice"]')
        refused.wait_for(timeout=10_000)
        assert "is in use by another nbgraph run" in refused.inner_text()
        assert terminal.wait(timeout=120) == 0
        busy.wait_for(state="detached", timeout=30_000)
        page.wait_for_selector('#nbgraph-panel [data-nbgraph-node="wait"][data-nbgraph-status="succeeded"]',
                               timeout=30_000)
    finally:
        terminal.kill()
    page.close()


def test_a_failed_variant_shows_its_failure_line_in_red(lab, browser):
    page = open_lab(browser, lab, "fails", by_command=True)  # nbgraph:open-panel
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-node="bad"][data-nbgraph-status="pending"]', timeout=30_000)
    palette(page, "nbgraph: run what is stale")  # nbgraph:run
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-run="failed"]', timeout=120_000)
    assert statuses(page) == {"base": "succeeded", "bad": "failed"}
    summary = page.locator('#nbgraph-panel [data-nbgraph-run="failed"] .jp-nbgraph-failure').first
    assert summary.inner_text().startswith("failed: bad: ") and "ValueError: broken on purpose" in summary.inner_text()
    page.click('#nbgraph-panel [data-nbgraph-node="bad"]')
    line = page.locator('#nbgraph-panel [data-nbgraph-variant="bad"] .jp-nbgraph-failure')
    assert "ValueError: broken on purpose" in line.inner_text()
    assert line.evaluate("e => getComputedStyle(e).color") == "rgb(198, 40, 40)"
    page.close()


def test_an_invalid_spec_shows_its_one_line_error(lab, browser):
    page = open_lab(browser, lab, "broken")
    error = page.locator('#nbgraph-panel [data-nbgraph-error="spec"]')
    error.wait_for(timeout=30_000)
    cli = run_cli("validate", cwd=lab.root / "broken")
    assert cli.returncode == 2 and cli.stderr.strip() == f"nbgraph: error: {error.inner_text()}"
    page.close()


def test_add_as_child_from_the_file_browser_keeps_the_yaml_comments(lab, browser):
    page = open_lab(browser, lab)
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-node="leaf"]', timeout=30_000)
    page.click('.lm-TabBar-tab[data-id="filebrowser"]')
    page.click('.jp-DirListing-item[title*="extra.ipynb"]', button="right")
    page.click('.lm-Menu-item:has-text("Add as child of…")')
    page.locator(".jp-Dialog select").select_option("base")
    page.click('.jp-Dialog button.jp-mod-accept')
    page.click('.lm-TabBar-tab[data-id="nbgraph-panel"]')
    page.wait_for_selector('#nbgraph-panel [data-nbgraph-node="extra"]', timeout=30_000)
    text = (lab.root / "inheritance.yaml").read_text()
    assert text.startswith("# the panel's study") and "extra:" in text and "parent: base" in text.split("extra:")[1]
    page.close()


def test_a_server_without_the_extension_says_so_in_the_panel(browser, tmp_path):
    make_study(tmp_path / "root")
    server = JupyterServer(tmp_path, "--ServerApp.jpserver_extensions=nbgraph.lab=False", app="jupyterlab",
                           installed_config=True)
    try:
        page = open_lab(browser, server)
        message = page.locator('#nbgraph-panel [data-nbgraph-error="spec"]')
        message.wait_for(timeout=30_000)
        assert "nbgraph's server extension is not enabled on this Jupyter server" in message.inner_text()
        page.close()
    finally:
        server.stop()
    shutil.rmtree(tmp_path / "root", ignore_errors=True)
