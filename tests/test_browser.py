"""The inspector in a real browser: JupyterLab on loopback, Debian's chromium driven by Playwright.

The server gets a random token and its own process session (stopped by its process group, kernels
included). It serves a scratch copy of ``notebooks/01_quickstart.ipynb`` beside a link to ``data/``,
so JupyterLab's autosave never touches the committed notebook. No browser is downloaded: Playwright
launches the system ``chromium`` by path.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_quickstart.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _wait(predicate, timeout: float, what: str, pause: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # the server answers 500 or refuses while it starts; keep polling
            value = None
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def serve_lab(work: Path, tmp_path: Path):
    """Run JupyterLab on 127.0.0.1 over the folder ``work``; yields (base url, token); stops its process group."""
    state = tmp_path / "jupyter"  # outside root_dir, so it stays out of the file browser
    settings = state / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_RUNTIME_DIR=str(state / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(state / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: server.poll() is not None and "exited" or _get_json(f"{base}/api/status?token={token}"), 90,
              "the JupyterLab server")
        if server.poll() is not None:
            raise AssertionError(f"JupyterLab exited:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
        yield base, token
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the whole session: server and its kernels
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


@pytest.fixture()
def lab(tmp_path):
    """A JupyterLab serving a scratch copy of the notebooks folder; yields (base url, token)."""
    work = tmp_path / "work"
    (work / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / NOTEBOOK, work / "notebooks" / NOTEBOOK)
    (work / "data").symlink_to(REPO / "data")  # the notebook's relative paths (../data/...) hold
    with serve_lab(work, tmp_path) as served:
        yield served


def test_inspector_threshold_slider_changes_the_boundaries_in_jupyterlab(lab, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); no browser to drive")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    base, token = lab

    def kernel_ready():
        kernels = _get_json(f"{base}/api/kernels?token={token}")
        return kernels and all(k["connections"] > 0 and k["execution_state"] == "idle" for k in kernels)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/notebooks/{NOTEBOOK}?token={token}")
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            # the indicator says idle before the kernel's websocket is usable; the server knows better
            _wait(kernel_ready, 120, "a connected, idle kernel")
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            view = page.locator(".ldar-inspector")
            view.wait_for(state="visible", timeout=300_000)
            _wait(kernel_ready, 120, "the notebook to finish")
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
            before = int(view.get_attribute("data-boundaries"))
            spans = page.locator(".ldar-inspector .ldar-chunk").count()
            assert before > 1 and spans == before
            assert view.get_attribute("data-threshold") == "0.5000"

            handle = page.locator(".widget-slider", has_text="threshold").locator(".noUi-handle")
            handle.focus()
            after, presses = before, 0
            while after == before and presses < 50:  # 0.01 per press; at 1.0 only the first base starts a chunk
                for _ in range(10):
                    handle.press("ArrowRight")
                presses += 10
                wanted = f"{0.5 + presses / 100:.4f}"
                page.wait_for_selector(f".ldar-inspector[data-threshold='{wanted}']", timeout=60_000)
                after = int(page.locator(".ldar-inspector").get_attribute("data-boundaries"))
            assert after < before, f"boundaries at threshold 0.5: {before}; after moving the slider: {after}"
            assert page.locator(".ldar-inspector .ldar-chunk").count() == after
            assert page.locator(".ldar-inspector .ldar-count").inner_text() == str(after)
            shot = tmp_path / "inspector.png"
            page.locator(".ldar-inspector").scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
