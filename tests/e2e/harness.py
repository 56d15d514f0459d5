"""Helpers for e2e tests: where artifacts go, the browser flags, waiting for Streamlit to settle."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags chromium keeps dialling out of this closed network.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


LOOPBACK = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")  # what may load in an offline test


def block_off_machine(target, also: tuple[str, ...] = ()) -> list[str]:
    """Route every request of a Playwright page or context that leaves the machine (not `LOOPBACK` or `also`) to a
    failure; returns the list the blocked URLs are appended to, for the test to assert empty."""
    allowed = LOOPBACK + tuple(also)
    blocked: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(allowed):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    target.route("**/*", only_local)
    return blocked


def wait_idle(page, timeout_s: float = 180) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' status widget)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 1.0:
            return
        time.sleep(0.25)
    raise TimeoutError(f"the app kept running for more than {timeout_s:.0f} s")


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(workspace: Path, log_name: str) -> Iterator[str]:
    """A fresh `streamlit run app.py` on a free loopback port and its own workspace; yields its URL."""
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / f"{log_name}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=dict(os.environ, WORKBENCH_HOME=str(workspace)), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail("streamlit did not answer on " + url)


def open_attention(page, url: str) -> None:
    """Home first (a cold deep link would skip app.py's navigation), then the Attention page, captured."""
    page.goto(url)
    page.get_by_text("Model card").first.wait_for(timeout=240_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Attention", exact=True).click()
    page.get_by_text("Captured in").first.wait_for(timeout=240_000)
    wait_idle(page)


def open_attention_view(page, url: str, view: str, text: str = "The nurse said that") -> None:
    """The Attention page on `text`, then `view`."""
    open_attention(page, url)
    page.get_by_label("Text", exact=True).fill(text)
    page.get_by_label("Text", exact=True).press("Control+Enter")
    wait_idle(page)
    page.locator('[data-testid="stRadio"]').get_by_text(view, exact=True).click()
    wait_idle(page)
