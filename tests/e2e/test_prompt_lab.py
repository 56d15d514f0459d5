"""Prompt lab in headless Chromium: generate, open the token view, run a grid; screenshots for the README."""

import re
import shutil

from harness import ROOT, screenshot, wait_idle


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    wait_idle(page)


def test_prompt_lab_token_view_and_grid(page, app_url):
    page.goto(app_url)  # a cold deep link to /prompt_lab would skip app.py's navigation
    page.get_by_text("Model card").first.wait_for(timeout=240_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Prompt lab", exact=True).click()
    page.get_by_text("active adapter").first.wait_for(timeout=240_000)
    wait_idle(page)
    box = page.get_by_label("Max new tokens").first
    box.fill("8")
    box.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_text(re.compile(r"\d+ prompt \+ \d+ new tokens")).wait_for(timeout=180_000)
    wait_idle(page)
    assert page.get_by_text("Paris").count() >= 1
    _tab(page, "Token view")
    page.get_by_text("Prompt perplexity").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    token_shot = screenshot(page, "prompt-lab-tokens")

    _tab(page, "Grid")
    page.get_by_role("button", name="Run grid").click()
    page.get_by_text(re.compile(r"batches, [0-9.]+ s")).wait_for(timeout=240_000)
    wait_idle(page)
    assert page.get_by_text("a compass").count() >= 1
    page.set_viewport_size({"width": 1400, "height": 1700})  # the results table sits below the inputs
    wait_idle(page)
    grid_shot = screenshot(page, "prompt-lab-grid")
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copy(token_shot, ROOT / "docs" / "prompt-lab-tokens.png")
    shutil.copy(grid_shot, ROOT / "docs" / "prompt-lab-grid.png")
