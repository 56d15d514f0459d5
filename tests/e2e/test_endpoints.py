"""An OpenAI-compatible endpoint (a real `transformers serve` of the embedded SmolLM2 on loopback) used from the
browser: Prompt lab streams from it, Evaluate scores it beside the base model; screenshots for the README."""

import re
import shutil

from harness import ROOT, screenshot, wait_idle


def _open(page, app_url, title):
    page.goto(app_url)  # a cold deep link would skip app.py's navigation
    page.get_by_text("Model card").first.wait_for(timeout=240_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page)


def _fill(page, label, value, within=None):
    box = (within or page).get_by_label(label, exact=True).first
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def _endpoint(page, title, base_url, model):
    page.get_by_text(title, exact=True).click()
    wait_idle(page)
    form = page.locator('[data-testid="stExpander"]').filter(has_text=title)  # the sidebar has a "Model" too
    _fill(page, "Base URL", base_url, form)
    _fill(page, "Model", model, form)
    _fill(page, "Label", "served", form)


def _save(page, name, height):
    page.set_viewport_size({"width": 1400, "height": height})
    wait_idle(page)
    shutil.copy(screenshot(page, name), ROOT / "docs" / f"{name}.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_prompt_lab_streams_from_the_endpoint(page, app_url, openai_server):
    base_url, model = openai_server
    _open(page, app_url, "Prompt lab")
    page.get_by_text("active adapter").first.wait_for(timeout=240_000)
    _endpoint(page, "OpenAI-compatible endpoint (hosted or local server)", base_url, model)
    _fill(page, "Max new tokens", 8)
    page.get_by_text("Ask the endpoint").click()
    wait_idle(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_text("endpoint served").first.wait_for(timeout=180_000)
    wait_idle(page)
    assert page.get_by_text("Paris").count() >= 1
    _save(page, "prompt-lab-endpoint", 1400)

    page.get_by_role("tab", name="Grid").click()  # the endpoint as a grid column beside the local base model
    wait_idle(page)
    page.get_by_text("Add the endpoint as a column").click()
    wait_idle(page)
    page.get_by_role("button", name="Run grid").click()
    page.get_by_text(re.compile(r"batches, [0-9.]+ s")).wait_for(timeout=240_000)
    wait_idle(page)
    _save(page, "prompt-lab-endpoint-grid", 1900)
    assert page.locator('[data-testid="stDataFrame"]').filter(has_text="served").count() >= 1


def test_evaluate_scores_the_endpoint_beside_the_base(page, app_url, openai_server):
    base_url, model = openai_server
    _open(page, app_url, "Evaluate")
    page.get_by_role("button", name="Run evaluation").wait_for(timeout=240_000)
    _endpoint(page, "Score an OpenAI-compatible endpoint too (hosted or local server)", base_url, model)
    page.get_by_text("is scored beside the models above").wait_for()
    page.get_by_text("Options", exact=True).click()
    wait_idle(page)
    _fill(page, "First N examples (0: all)", 3)
    _fill(page, "Max new tokens (0: auto)", 6)
    page.get_by_text("Chat template", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text("eval_facts: 3 examples").wait_for(timeout=300_000)
    wait_idle(page)
    page.get_by_text("perplexity skipped for served").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.get_by_text("output: served").count() >= 1 or page.locator("text=served").count() >= 1
    _save(page, "evaluate-endpoint", 2200)
