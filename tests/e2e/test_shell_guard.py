"""The pages/ guard in real headless Chromium, each check on a FRESH server (Streamlit's v1 pages/ mode only
runs on the first script run after a start): a direct link to a page gets the shared shell, and the first
change of the sidebar picker on the home page takes effect."""

import pytest
from harness import screenshot, serve, wait_idle

PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'


@pytest.fixture
def fresh_url(tmp_path):
    """A server of its own, started for this test only."""
    with serve(tmp_path, "streamlit-fresh") as url:
        yield url


def test_direct_link_to_a_page_on_a_fresh_server_shows_the_shared_sidebar(page, fresh_url):
    page.goto(fresh_url + "/attention")
    page.get_by_role("heading", name="Attention").first.wait_for(timeout=240_000)
    wait_idle(page)
    assert page.locator(PICKER).first.is_visible()
    picked = page.locator(PICKER).first
    assert "smollm2-135m-instruct" in (picked.text_content() + picked.locator("input").first.input_value())
    assert page.url == fresh_url + "/attention"
    tokens = page.locator('[data-testid="stExpander"] summary', has_text="tokens").first
    before = tokens.inner_text()
    box = page.get_by_label("Text")
    box.fill("Zebras gallop.")
    box.press("Control+Enter")
    page.locator('[data-testid="stExpander"] summary', has_text="tokens").filter(
        has_not_text=before).first.wait_for(timeout=120_000)  # the page re-tokenised the new text
    wait_idle(page)
    assert page.locator('[data-testid="stExpander"]', has_text="Z").count() >= 1
    assert page.url == fresh_url + "/attention"
    screenshot(page, "guard-direct-attention")


def test_first_change_of_the_sidebar_picker_on_a_fresh_server_takes_effect(page, fresh_url):
    page.goto(fresh_url)
    page.get_by_text("Model card: smollm2-135m-instruct").wait_for(timeout=240_000)
    wait_idle(page)
    page.locator(PICKER).first.click()
    page.get_by_role("option", name="minilm-l6").click()
    page.get_by_text("Model card: minilm-l6").wait_for(timeout=240_000)
    wait_idle(page)
    screenshot(page, "guard-home-first-change")
