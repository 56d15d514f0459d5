"""Fine-tune page in Chromium: a bad upload lists its rows; a tiny job starts and its live curve appears."""

import shutil
import time

from harness import ROOT, screenshot, wait_idle
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError


def set_number(page, label: str, value, in_form: bool = False) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Tab" if in_form else "Enter")  # Enter inside a form would submit it
    wait_idle(page)


def test_upload_validation_then_live_job_curve(page, app_url, tmp_path):
    page.goto(app_url)  # through the home page: a cold deep link skips app.py's navigation
    page.get_by_text("Model card").first.wait_for(timeout=240_000)
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Fine-tune").click()
    page.get_by_text("Max length (tokens)").first.wait_for(timeout=240_000)
    wait_idle(page)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a",\n{"prompt": "", "response": "x"}\n')
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.get_by_text("2 bad row(s)").wait_for(timeout=60_000)
    wait_idle(page)
    screenshot(page, "finetune_validation")

    page.get_by_text("Pick from data/", exact=True).click()
    page.get_by_text("demo_dates_train.jsonl · format").wait_for(timeout=60_000)
    wait_idle(page)
    set_number(page, "Max length (tokens)", 48)
    set_number(page, "Steps (0: use epochs)", in_form=True, value=40)
    set_number(page, "Batch size", in_form=True, value=2)
    set_number(page, "Validate every (steps)", in_form=True, value=2)
    page.get_by_role("button", name="Start fine-tune").click()
    try:
        page.get_by_text("started: watch it in the Jobs tab").wait_for(timeout=60_000)
    finally:
        screenshot(page, "finetune_started")
    page.get_by_role("tab", name="Jobs").click()
    page.get_by_text("step 2 of 40").first.wait_for(timeout=180_000)  # two points on the live curve
    wait_idle(page)
    page.locator(".js-plotly-plot").first.wait_for(state="attached", timeout=120_000)
    path = screenshot(page, "finetune")
    shutil.copy(path, ROOT / "docs" / "finetune-live.png")
    for _ in range(10):  # the panel re-renders every 2 s; a click can land on a button being replaced
        if page.get_by_text("Stopping: the job").count() or page.get_by_text("stopped at step").count():
            break
        try:
            page.get_by_role("button", name="Stop").click(timeout=10_000)
        except PlaywrightTimeoutError:  # the "Stopping" notice of an earlier click covered the button meanwhile
            pass
        time.sleep(2)
    page.get_by_text("Stopping: the job").or_(
        page.locator('[data-testid="stAlert"]').get_by_text("stopped at step")).first.wait_for(timeout=30_000)
