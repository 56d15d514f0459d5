"""Flows between pages in headless Chromium (issue 12): a finished fine-tune opens Evaluate and Compare with its
adapter preselected; an evaluated example opens in Compare; a Compare head opens in Attention on the same text,
layer and head; a Prompt lab output opens in Attention."""

import json
import time

from harness import ROOT, screenshot, serve, wait_idle
from playwright.sync_api import expect


def _finished_job(tmp_path, monkeypatch, adapter: str) -> None:
    """A real two-step job in the workspace the app will serve, done before the browser opens."""
    from workbench.finetune import jobs
    from workbench.finetune.config import LoraRunConfig

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "workspace"))
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join((ROOT / "data" / "demo_dates_train.jsonl").read_text().splitlines()[:8]) + "\n")
    job_id = jobs.submit(LoraRunConfig(data=str(data), adapter_name=adapter, max_steps=2, batch_size=2, max_length=48,
                                       warmup_steps=0, validation_fraction=0, save_every=2, cpu_threads=1))
    deadline = time.time() + 300
    while (status := jobs.job(job_id)["status"]) in ("queued", "running") and time.time() < deadline:
        time.sleep(1)
    assert status == "done", jobs.job(job_id)["message"]


def _fill(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def _to_jobs_tab(page) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Fine-tune", exact=True).click()
    page.get_by_role("tab", name="Jobs").wait_for(timeout=240_000)
    wait_idle(page)
    page.get_by_role("tab", name="Jobs").click()
    wait_idle(page)


def test_finished_job_opens_evaluate_and_compare_and_a_compare_head_opens_attention(page, tmp_path, monkeypatch):
    _finished_job(tmp_path, monkeypatch, "flow-a")
    with serve(tmp_path / "workspace", "flows") as url:
        page.goto(url)  # through the home page: a cold deep link skips app.py's navigation
        page.get_by_text("Model card").first.wait_for(timeout=240_000)
        wait_idle(page)
        _evaluate_then_open_an_example_in_compare(page)
        _compare_head_to_attention(page)
        _prompt_lab_output_to_attention(page)


def _evaluate_then_open_an_example_in_compare(page) -> None:
    _to_jobs_tab(page)
    page.get_by_role("button", name="Evaluate flow-a").click()
    page.get_by_role("heading", name="Evaluate").first.wait_for(timeout=120_000)
    wait_idle(page)
    models = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Models")
    assert "flow-a" in models.inner_text() and "base" in models.inner_text()
    for label, value in (("First N examples (0: all)", 2), ("Max new tokens (0: auto)", 4)):
        if not page.get_by_label(label, exact=True).is_visible():  # the Options expander, closed or redrawn
            page.get_by_text("Options", exact=True).click()
            wait_idle(page)
        _fill(page, label, value)
    page.get_by_role("button", name="Run evaluation").click()
    opener = page.get_by_role("button", name="in Compare with flow-a")
    opener.wait_for(timeout=300_000)
    wait_idle(page)
    screenshot(page, "flow_finetune_to_evaluate")
    opener.click()
    page.get_by_role("button", name="Generate with both").wait_for(timeout=120_000)
    wait_idle(page)
    assert page.get_by_role("combobox", name="Adapter", exact=True).input_value() == "flow-a"
    first = (ROOT / "data" / "eval_facts.jsonl").read_text().splitlines()[0]
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(json.loads(first)["prompt"], timeout=60_000)


def _compare_head_to_attention(page) -> None:
    """Back on Fine-tune, "Compare with the base", then a head of the attention diff opened in Attention."""
    _to_jobs_tab(page)
    page.get_by_role("button", name="Compare with the base").click()
    page.get_by_role("button", name="Generate with both").wait_for(timeout=120_000)
    wait_idle(page)
    assert page.get_by_role("combobox", name="Adapter", exact=True).input_value() == "flow-a"
    page.get_by_role("button", name="Generate with both").click()
    page.get_by_role("button", name="Compute attention diff").wait_for(timeout=240_000)
    wait_idle(page)
    text = page.get_by_label("Text to read with both models").input_value()
    page.get_by_role("button", name="Compute attention diff").click()
    opener = page.get_by_role("button", name="in Attention")
    opener.wait_for(timeout=240_000)
    wait_idle(page)
    label = opener.inner_text()  # "Open layer L, head H in Attention"
    layer, head = (int(part.split()[-1]) for part in label.split(" in ")[0].split(", "))
    screenshot(page, "flow_compare_head")
    opener.click()
    # Not get_by_text("Layer L, head H"): it is case-insensitive and matches the Compare button still on screen.
    page.get_by_role("heading", name="Attention", exact=True).wait_for(timeout=240_000)
    expect(page.get_by_label("Text", exact=True)).to_have_value(text, timeout=120_000)
    expect(page.get_by_text(f"Layer {layer}, head {head}", exact=True).first).to_be_attached(timeout=240_000)
    wait_idle(page)
    screenshot(page, "flow_compare_to_attention")


def _prompt_lab_output_to_attention(page) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Prompt lab", exact=True).click()
    page.get_by_role("button", name="Generate", exact=True).wait_for(timeout=120_000)
    wait_idle(page)
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_role("button", name="Inspect attention on prompt + output").wait_for(timeout=240_000)
    wait_idle(page)
    page.get_by_role("button", name="Inspect attention on prompt + output").click()
    page.get_by_text("Captured in").first.wait_for(timeout=240_000)
    wait_idle(page)
    inspected = page.get_by_label("Text", exact=True).input_value()
    assert "What is the capital of France?" in inspected and len(inspected) > 40
