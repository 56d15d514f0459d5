"""The long-input views in headless Chromium for SmolLM2: attention distance per head and the sinks, drawn from
the block engine's sums (no full map); a screenshot to look at."""

from harness import open_attention_view, screenshot, wait_idle

TEXT = ("The old lighthouse keeper climbed the stairs every night. He lit the lamp, watched the sea and wrote in his "
        "log. One stormy night a small boat appeared near the rocks.")


def test_distance_and_sinks_view_draws_the_histograms_and_names_the_sinks(page, app_url):
    open_attention_view(page, app_url, "Distance & sinks", text=TEXT)
    page.get_by_text("Layer 0: attention by distance, per head").first.wait_for(timeout=180_000)
    page.get_by_text("Strongest key's share").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert page.locator(".js-plotly-plot .heatmaplayer").count() >= 3
    assert page.get_by_text("sink(s) in").count() >= 1
    page.set_viewport_size({"width": 1400, "height": 2600})
    wait_idle(page)
    screenshot(page, "attention-distance-sinks")
