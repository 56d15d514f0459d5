"""The HTML repr of every result type draws in headless Chromium with every non-loopback request blocked."""

import pytest

from tests.e2e.harness import CHROMIUM, CHROMIUM_FLAGS, block_off_machine
from workbench import results

NAMES = ["attention", "attention_row", "generate", "decoding_step", "grid", "evaluate", "compare_shift",
         "compare_attention", "bias"]
FILES = ("file:", "http://localhost")  # the repr is opened from a file


@pytest.fixture(scope="module")
def offline_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page()
        blocked = block_off_machine(page, also=FILES)
        yield page, blocked
        browser.close()


@pytest.mark.parametrize("name", NAMES)
def test_html_repr_draws_offline_in_headless_chromium(every_result, name, offline_page, tmp_path, monkeypatch):
    monkeypatch.setitem(results.INLINE_PLOTLYJS, "mode", "always")
    page, blocked = offline_page
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    html = every_result[name]._repr_mimebundle_()["text/html"]
    (tmp_path / "out.html").write_text(f"<!doctype html><html><body>{html}</body></html>")
    page.goto((tmp_path / "out.html").as_uri())
    page.wait_for_selector(".js-plotly-plot svg.main-svg", state="attached", timeout=60_000)
    drawn = page.evaluate("""() => ({
        svgs: document.querySelectorAll('.js-plotly-plot svg.main-svg').length,
        marks: document.querySelectorAll('.js-plotly-plot .trace, .js-plotly-plot .hm, .js-plotly-plot image,'
                                         + ' .js-plotly-plot .point, .js-plotly-plot .table').length})""")
    assert drawn["svgs"] >= 2 and drawn["marks"] >= 1, drawn
    assert not errors and not blocked
