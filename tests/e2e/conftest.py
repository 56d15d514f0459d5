"""End-to-end harness: `streamlit run app.py` on a free loopback port, driven by Debian's chromium."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # e2e tests import `harness` by name
from harness import CHROMIUM, CHROMIUM_FLAGS, screenshot, serve


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of what was on screen: failed-<test name>.png in artifacts/."""
    report = yield
    pg = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.failed and call.when == "call" and pg is not None:
        try:
            report.sections.append(("screenshot", str(screenshot(pg, f"failed-{item.name}"))))
        except Exception as err:  # noqa: BLE001 - a screenshot must never hide the failure itself
            report.sections.append(("screenshot", f"none: {err}"))
    return report


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """One app server for the whole e2e session, on its own empty workspace."""
    with serve(tmp_path_factory.mktemp("e2e-home"), "streamlit") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    context.close()
