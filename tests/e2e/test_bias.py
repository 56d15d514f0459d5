"""Bias page in headless Chromium: each dashboard runs on a small sample, then the before/after view with a
real random LoRA adapter registered in the app's workspace; screenshots in tests/e2e/artifacts."""

import os

import pytest
from harness import screenshot, wait_idle


def _register_random_adapter(home, name="tilted"):
    """A real LoRA adapter (random, non-zero B) written into the e2e app's workspace registry."""
    import torch
    from peft import LoraConfig, get_peft_model

    from workbench.models import ModelSpec, adapters, load

    before = os.environ.get("WORKBENCH_HOME")
    os.environ["WORKBENCH_HOME"] = str(home)
    try:
        torch.manual_seed(0)
        config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                            task_type="CAUSAL_LM")
        staging = adapters.staging_dir(name)
        get_peft_model(load(ModelSpec("smollm2-135m-instruct", device="cpu")).model, config).save_pretrained(staging)
        adapters.register(staging, name, {"base_model": "smollm2-135m-instruct"})
    finally:
        os.environ["WORKBENCH_HOME"] = before


def _set_number(page, label, value):
    box = page.get_by_label(label)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def _run(page, button_text, done_text):
    page.get_by_role("button", name=button_text).click()
    page.get_by_text(done_text).first.wait_for(timeout=300_000)
    wait_idle(page)


def _save(page, name):
    page.set_viewport_size({"width": 1400, "height": 2200})  # the app scrolls inside its own container
    wait_idle(page)
    screenshot(page, name)  # docs/bias-*.png come from a full-size run, see docs/readme-bias.md
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_bias_dashboards_and_before_after(page, app_url, tmp_path_factory):
    homes = list(tmp_path_factory.getbasetemp().glob("e2e-home[0-9]*"))
    if len(homes) != 1:
        pytest.fail(f"expected the app's workspace under {tmp_path_factory.getbasetemp()}, found {homes}")
    _register_random_adapter(homes[0])
    page.goto(app_url)
    page.get_by_text("Model card: smollm2-135m-instruct").wait_for(timeout=240_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Bias", exact=True).click()
    page.get_by_text("Active adapter").wait_for(timeout=240_000)
    wait_idle(page)

    _set_number(page, "Occupations to score", 4)
    _run(page, "Run pronouns on the base model", "Occupations ranked by skew")
    assert page.get_by_text("Correlation with BLS").count() == 1
    _save(page, "bias-pronouns")

    page.get_by_role("tab", name="CrowS-Pairs").click()
    _set_number(page, "Pairs to score (random sample; 1508 = all)", 4)
    _run(page, "Run crows-pairs on the base model", "Most skewed pairs")
    _save(page, "bias-crows-pairs")

    page.get_by_role("tab", name="BOLD sentiment").click()
    _set_number(page, "Prompts per group", 1)
    _set_number(page, "Continuation tokens", 6)
    _run(page, "Run bold-sentiment on the base model", "Largest gap")
    _save(page, "bias-bold")

    page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="tilted").click()
    wait_idle(page)
    assert page.get_by_text("Active adapter: tilted").count() == 1
    page.get_by_role("tab", name="Before / after").click()
    _run(page, "Run pronouns on base and tilted", "Before/after per group")
    _save(page, "bias-before-after")
