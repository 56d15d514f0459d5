"""Attention views in headless Chromium: value-weighted maps for the decoder and the encoder, and generate-then-
inspect with its step scrubber; screenshots for the README."""

import shutil

from harness import ROOT, screenshot, wait_idle


def _open_attention(page, app_url) -> None:
    page.goto(app_url)  # a cold deep link to /attention would skip app.py's navigation
    page.get_by_text("Model card").first.wait_for(timeout=240_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Attention", exact=True).click()
    page.get_by_text("Captured in").first.wait_for(timeout=240_000)
    wait_idle(page)


def _toggle_and_shoot(page, name: str) -> None:
    page.get_by_text("Value-weighted (one head, mean over heads)").click()
    page.get_by_text("Layer 0, head 0 (value-weighted)").first.wait_for(timeout=120_000)
    wait_idle(page)
    page.locator(".js-plotly-plot .heatmaplayer").first.wait_for(state="attached", timeout=120_000)
    page.set_viewport_size({"width": 1400, "height": 1500})
    wait_idle(page)
    shutil.copy(screenshot(page, name), ROOT / "docs" / f"{name}.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_value_weighted_head_for_smollm2_and_minilm(page, app_url):
    _open_attention(page, app_url)
    _toggle_and_shoot(page, "attention-value-weighted")
    page.get_by_text("Value-weighted (one head, mean over heads)").click()  # off again before the model switch
    wait_idle(page)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="minilm-l6").click()
    wait_idle(page)
    page.get_by_text("0:[CLS]").first.wait_for(timeout=120_000)
    wait_idle(page)
    _toggle_and_shoot(page, "attention-value-weighted-encoder")


def test_generate_then_step_through_the_new_tokens(page, app_url):
    _open_attention(page, app_url)
    box = page.get_by_label("Text", exact=True)
    box.fill("What is the capital of France?")
    box.press("Control+Enter")
    wait_idle(page)
    page.get_by_text("Chat turn (apply chat template)").click()
    wait_idle(page)
    page.locator('[data-testid="stMain"] [data-testid="stRadio"]').first.get_by_text("Generated", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Generate and inspect").click()
    page.get_by_text("Generated (").first.wait_for(timeout=180_000)  # greedy stops at <|im_end|>
    wait_idle(page)
    assert page.get_by_text("Paris").count() >= 1
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Step").get_by_role("slider")
    for _ in range(8):  # one key at a time, each rerun finished before the next (keys during a rerun get lost)
        slider.focus()
        slider.press("ArrowRight")
        wait_idle(page)
        if int(slider.input_value() or 0) >= 3:
            break
    step = int(slider.input_value() or 0)
    screenshot(page, "attention-generated-steps")
    assert step >= 1
    page.get_by_text(f"Step {step}: token").first.wait_for(timeout=60_000)
    wait_idle(page)
    page.set_viewport_size({"width": 1400, "height": 2300})
    wait_idle(page)
    shutil.copy(screenshot(page, "attention-generated"), ROOT / "docs" / "attention-generated.png")
