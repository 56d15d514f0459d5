"""What `make notebook` promises: JupyterLab on loopback opens the attention tutorial, starts the project's kernel
by itself, runs every cell and draws every figure in headless Chromium with all non-loopback requests blocked."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import CHROMIUM, CHROMIUM_FLAGS, block_off_machine

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "notebook-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _makefile_lab_flags() -> list[str]:
    """The `jupyter lab` flags of the Makefile's notebook target, so the test runs what users run."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    line = next(x for x in text.splitlines() if "/bin/jupyter lab" in x)
    skip = ("--ServerApp.port", "--ServerApp.root_dir", "--LabApp.app_settings_dir")  # set per test run
    return [f for f in line.split() if f.startswith("--") and "$(" not in f and not f.startswith(skip)]


@pytest.fixture
def lab_url(kernel_name, tmp_path):
    """JupyterLab over a copy of notebooks/ (autosave must not write outputs into the checkout), with a fresh
    workspace (no restored layout)."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    port = _free_port()
    command = [str(Path(sys.executable).with_name("jupyter")), "lab", *_makefile_lab_flags(), "--allow-root",
               f"--ServerApp.port={port}", f"--IdentityProvider.token={TOKEN}",
               f"--ServerApp.root_dir={tmp_path / 'notebooks'}", f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
               f"--LabApp.app_settings_dir={ROOT / 'scripts' / 'jupyterlab'}"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(20)


def _code_prompts(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                         ".map(e => e.textContent.trim())")


@pytest.mark.slow
def test_attention_tutorial_runs_in_jupyterlab_offline_with_every_figure_drawn(lab_url, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        blocked = block_off_machine(page)
        page.goto(f"{lab_url}/lab/tree/attention.ipynb?reset&token={TOKEN}")
        # the kernel is ready when the status bar says so (the execution indicator reads "idle" while it is
        # still initializing, and a Run All sent then is dropped: every prompt stayed "[ ]" in CI)
        page.wait_for_function("() => /LLM Workbench \\| Idle/.test(document.body.innerText)", timeout=120_000)
        deadline = time.time() + 240
        for _attempt in range(3):
            page.click("text=Run", timeout=10_000)
            page.click("text=Run All Cells", timeout=10_000)
            started = time.time() + 30
            while time.time() < started and all(x == "[ ]:" for x in _code_prompts(page)):
                time.sleep(0.5)
            if not all(x == "[ ]:" for x in _code_prompts(page)):
                break
        while not (done := all(any(ch.isdigit() for ch in x) for x in _code_prompts(page))) and time.time() < deadline:
            time.sleep(1)
        prompts = _code_prompts(page)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count()
        page.evaluate("() => document.querySelector('.jp-WindowedPanel-outer').scrollTo(0, 1e6)")
        time.sleep(2)
        plots = page.locator(".jp-OutputArea .js-plotly-plot").count()
        svgs = page.locator(".jp-OutputArea .js-plotly-plot svg.main-svg").count()
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))
        browser.close()
    assert done, f"the cells did not all run: {prompts}"
    assert errors == 0 and plots == 3 and svgs >= 3 * 2
    assert not blocked
