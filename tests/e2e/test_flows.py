"""Flows between pages in headless Chromium (issue 12): a finished fine-tune opens Evaluate and Compare with its
adapter preselected, and a Compare head opens in Attention on the same text, layer and head."""

import time

from harness import ROOT, screenshot, serve, wait_idle


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

        _to_jobs_tab(page)
        page.get_by_role("button", name="Evaluate flow-a").click()
        page.get_by_role("heading", name="Evaluate").first.wait_for(timeout=120_000)
        wait_idle(page)
        models = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Models")
        assert "flow-a" in models.inner_text() and "base" in models.inner_text()
        screenshot(page, "flow_finetune_to_evaluate")

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
        page.get_by_text(f"Layer {layer}, head {head}").first.wait_for(timeout=240_000)
        wait_idle(page)
        assert page.get_by_label("Text", exact=True).input_value() == text
        screenshot(page, "flow_compare_to_attention")
