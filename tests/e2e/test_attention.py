"""Attention page in real headless Chromium (no internet): a head, the grid with click-through, statistics,
and bertviz drawing SVG from the app's own scripts; the encoder too. Screenshots for the README."""

import shutil

from harness import ROOT, open_attention, screenshot, wait_idle


def _view(page, name: str, ready: str) -> None:
    """Pick a view and wait until text only that view shows has appeared."""
    page.locator('[data-testid="stMain"] [data-testid="stRadio"]').first.get_by_text(name, exact=True).click()
    try:
        page.get_by_text(ready).first.wait_for(timeout=120_000)
    finally:
        screenshot(page, f"attention-view-{name.replace(' ', '-').lower()}")
    wait_idle(page)


def _plots(page) -> int:
    return page.locator(".js-plotly-plot").count()


def test_attention_page_head_grid_statistics_and_bertviz(page, app_url):
    open_attention(page, app_url)
    page.get_by_text("Layer 0, head 0", exact=True).first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(state="attached", timeout=120_000)
    shutil.copy(screenshot(page, "attention-head"), ROOT / "docs" / "attention-head.png")

    _view(page, "All heads", "Click a tile (or pick")
    shutil.copy(screenshot(page, "attention-grid"), ROOT / "docs" / "attention-grid.png")
    # Click the tile of layer 2, head 4: its marker's data position converted to pixels by plotly itself.
    x, y = page.locator(".js-plotly-plot").first.evaluate("""(el) => {
        const k = 2 * 9 + 4, t = el._fullData[1], xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
        const r = el.getBoundingClientRect();
        return [r.left + xa._offset + xa.d2p(t.x[k]), r.top + ya._offset + ya.d2p(t.y[k])];
    }""")
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y)                     # plotly picks the clicked point from the hover state
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    wait_idle(page)
    page.get_by_text("Layer 2, head 4", exact=True).first.wait_for(timeout=60_000)

    _view(page, "Statistics", "spreads attention evenly")
    assert _plots(page) >= 1
    shutil.copy(screenshot(page, "attention-statistics"), ROOT / "docs" / "attention-statistics.png")

    _view(page, "bertviz", "of HTML; scripts served by the app")
    frame = page.frame_locator("iframe").first
    frame.locator("svg").first.wait_for(timeout=60_000)
    drawn = frame.locator("svg line, svg rect, svg text").count()
    assert drawn > 50, drawn                                   # d3 drew the view from inlined scripts
    shutil.copy(screenshot(page, "attention-bertviz"), ROOT / "docs" / "attention-bertviz.png")


def test_attention_page_encoder_head(page, app_url):
    open_attention(page, app_url)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="minilm-l6").click()
    wait_idle(page)
    page.get_by_text("0:[CLS]").first.wait_for(timeout=120_000)
    wait_idle(page)                                            # the smollm2 chart is gone once the rerun ends
    page.get_by_text("Layer 0, head 0", exact=True).first.wait_for(timeout=120_000)
    assert page.get_by_text("grey: hidden by the causal mask").count() == 0   # bidirectional: nothing masked
    screenshot(page, "attention-encoder")
