"""Two browser tabs share the loaded model: while one runs a grid, the other's action says it waits, then both
finish; a second time the waiting tab presses Cancel and stops waiting while the grid goes on (issue 12,
"busy model")."""

import re

from harness import wait_idle
from playwright.sync_api import expect

BUSY = "The model is busy with another tab's run; waiting…"


def _open_prompt_lab(page, url: str) -> None:
    page.goto(url)  # a cold deep link to /prompt_lab would skip app.py's navigation
    page.get_by_text("Model card").first.wait_for(timeout=240_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Prompt lab", exact=True).click()
    page.get_by_text("active adapter").first.wait_for(timeout=240_000)
    wait_idle(page)


def test_a_tab_that_needs_the_model_while_another_runs_a_grid_says_it_waits(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    grid, lens = context.new_page(), context.new_page()
    try:
        for page in (grid, lens):
            page.set_default_timeout(120_000)
            _open_prompt_lab(page, app_url)
        grid.get_by_role("tab", name="Grid").click()
        repeats = grid.get_by_label("Repeats")
        repeats.fill("16")  # 3 rows x 16 repeats x 16 tokens: seconds of work under the model's lock
        repeats.press("Enter")
        wait_idle(grid)
        lens.get_by_role("tab", name="Logit lens").click()
        wait_idle(lens)

        grid.get_by_role("button", name="Run grid").click()
        grid.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)  # the grid holds the model
        lens.get_by_role("button", name="Run logit lens").click()
        lens.get_by_text(BUSY).wait_for(timeout=30_000)
        grid.get_by_text(re.compile(r"batches, [0-9.]+ s")).wait_for(timeout=300_000)
        lens.locator(".js-plotly-plot").first.wait_for(timeout=120_000)  # the lens ran once the model was free
        wait_idle(lens)
        assert lens.get_by_text(BUSY).count() == 0  # the notice went when the wait ended

        first = grid.get_by_text(re.compile(r"batches, [0-9.]+ s")).inner_text()
        grid.get_by_role("button", name="Run grid").click()  # again; this time the waiting tab gives up
        grid.locator('[data-testid="stProgress"]').first.wait_for(timeout=60_000)
        lens.get_by_role("button", name="Run logit lens").click()
        lens.get_by_text(BUSY).wait_for(timeout=30_000)
        lens.get_by_role("button", name="Cancel").click()
        lens.get_by_text("Stopped waiting for the model; nothing ran.").wait_for(timeout=30_000)
        expect(lens.get_by_text(BUSY)).to_have_count(0, timeout=30_000)  # before the grid ends
        assert grid.get_by_text(re.compile(r"batches, [0-9.]+ s")).inner_text() == first
        done = grid.get_by_text(re.compile(r"batches, [0-9.]+ s"))
        expect(done).not_to_have_text(first, timeout=300_000)  # the grid went on to its own end: a new run
    finally:
        context.close()
