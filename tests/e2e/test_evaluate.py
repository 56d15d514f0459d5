"""Evaluate and Compare pages in headless Chromium with a real random LoRA adapter given by folder;
screenshots for the README."""

import shutil

import pytest
from harness import ROOT, screenshot, wait_idle


@pytest.fixture(scope="module")
def adapter_folder(tmp_path_factory):
    """A real LoRA adapter (random, non-zero B on q/v) in a plain folder, typed into the pages."""
    import torch
    from peft import LoraConfig, get_peft_model

    from workbench.models import ModelSpec, load

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    folder = tmp_path_factory.mktemp("e2e-adapter") / "random-lora"
    get_peft_model(load(ModelSpec("smollm2-135m-instruct", device="cpu")).model, config).save_pretrained(folder)
    return folder


def _fill(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def _open(page, app_url, title):
    page.goto(app_url)  # a cold deep link would skip app.py's navigation
    page.get_by_text("Model card").first.wait_for(timeout=240_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_idle(page)


def _save(page, name, height=2600):
    page.set_viewport_size({"width": 1400, "height": height})  # the app scrolls inside its own container
    wait_idle(page)
    path = screenshot(page, name)
    shutil.copy(path, ROOT / "docs" / f"{name}.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_evaluate_page_runs_base_and_adapter(page, app_url, adapter_folder):
    _open(page, app_url, "Evaluate")
    page.get_by_role("button", name="Run evaluation").wait_for(timeout=240_000)
    wait_idle(page)
    _fill(page, "More adapter folders (comma-separated)", adapter_folder)
    page.get_by_text("Options", exact=True).click()
    _fill(page, "First N examples (0: all)", 4)
    _fill(page, "Max new tokens (0: auto)", 4)
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text("eval_facts: 4 examples").wait_for(timeout=300_000)
    wait_idle(page)
    # Plotly draws its titles after the script run ends: wait for them rather than count at once.
    page.get_by_text("Scores with bootstrap 95% intervals").first.wait_for(timeout=120_000)
    page.get_by_text("History").first.wait_for(timeout=60_000)
    _save(page, "evaluate")


def test_compare_page_outputs_shift_and_attention_diff(page, app_url, adapter_folder):
    _open(page, app_url, "Compare")
    page.get_by_text("Compare base and fine-tuned").wait_for(timeout=240_000)
    wait_idle(page)
    page.get_by_label("Adapter", exact=True).click()
    page.get_by_role("option", name="Folder…").click()
    wait_idle(page)
    _fill(page, "Adapter folder", adapter_folder)
    _fill(page, "Max new tokens", 8)
    page.get_by_role("button", name="Generate with both").click()
    page.get_by_text("Total shift").wait_for(timeout=300_000)
    wait_idle(page)
    _fill(page, "Max tokens", 48)
    page.get_by_role("button", name="Compute attention diff").click()
    page.get_by_text("Click a cell").wait_for(timeout=300_000)
    wait_idle(page)
    page.get_by_text("who attends to whom").first.wait_for(timeout=120_000)
    _save(page, "compare", height=3300)
