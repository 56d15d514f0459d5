"""Attribution and contribution views in headless Chromium on SmolLM2 (issue 15); screenshots for the README."""

import shutil

from harness import ROOT, open_attention_view, screenshot, wait_idle


def _open_view(page, app_url, view: str) -> None:
    open_attention_view(page, app_url, view)


def _shoot(page, name: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 2200})
    wait_idle(page)
    shutil.copy(screenshot(page, name), ROOT / "docs" / f"{name}.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_contribution_graph_and_attribution_panel_draw(page, app_url):
    _open_view(page, app_url, "Contributions")
    page.get_by_text("Contributions to token").first.wait_for(timeout=240_000)
    page.locator(".js-plotly-plot").first.wait_for(state="attached", timeout=120_000)
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    _shoot(page, "attention-contributions")

    page.locator('[data-testid="stRadio"]').get_by_text("Attribution", exact=True).click()
    wait_idle(page)
    page.get_by_role("textbox", name="Target token (empty: the greedy next token)").fill(" she")
    page.get_by_role("textbox", name="Contrast (optional)").fill(" he")
    page.get_by_role("spinbutton", name="IG steps").fill("8")
    page.get_by_role("spinbutton", name="IG steps").press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Attribute").click()
    page.get_by_text("Faithfulness").first.wait_for(timeout=240_000)
    wait_idle(page)
    assert page.get_by_text("logit('␣she') - logit('␣he')").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    _shoot(page, "attention-attribution")
