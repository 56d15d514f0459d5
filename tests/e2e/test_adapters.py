"""Adapters in headless Chromium: "Load from folder" shows the copy at once; Delete asks first, naming the copy, and
moves exactly that one to the trash; Restore in the Trash section brings it back."""

import json

from harness import screenshot, serve, wait_idle


def _placeholder_adapter(folder):
    """An adapter folder as the registry sees it (the Adapters tab lists files; it applies nothing)."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": "smollm2-135m-instruct"}))
    (folder / "adapter_model.safetensors").write_text("weights")
    return folder


def _fill(page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    wait_idle(page)


def test_register_delete_confirms_and_trashes_the_right_one_then_restore(page, tmp_path, monkeypatch):
    from workbench.models import adapters

    home = tmp_path / "workspace"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    adapters.import_adapter(_placeholder_adapter(tmp_path / "trained"), "trained")
    registry = home / "adapters"

    with serve(home, "adapters") as url:
        page.goto(url)  # through the home page: a cold deep link skips app.py's navigation
        page.get_by_text("Model card").first.wait_for(timeout=240_000)
        wait_idle(page)
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Fine-tune").click()
        page.get_by_role("tab", name="Adapters").wait_for(timeout=240_000)
        wait_idle(page)
        page.get_by_role("tab", name="Adapters").click()
        wait_idle(page)

        _fill(page, "Load an adapter from a folder", str(_placeholder_adapter(tmp_path / "copy-src")))
        _fill(page, "Register as", "copy")
        page.get_by_role("button", name="Load", exact=True).click()
        page.get_by_text("Registered copy").wait_for(timeout=60_000)
        wait_idle(page)
        assert page.get_by_role("combobox", name="Adapter", exact=True).input_value() == "copy"  # no reload
        screenshot(page, "adapters_loaded")

        page.get_by_role("button", name="Delete", exact=True).click()
        question = page.locator('[data-testid="stAlert"]').filter(has_text="It moves to the workspace trash")
        question.wait_for(timeout=60_000)
        wait_idle(page)
        assert "Delete adapter copy" in question.inner_text()
        assert sorted(p.name for p in registry.iterdir() if not p.name.startswith(".")) == ["copy", "trained"]
        screenshot(page, "adapters_confirm_delete")

        page.get_by_role("button", name="Move to trash").click()
        page.get_by_text("Moved adapter copy to the trash").wait_for(timeout=60_000)
        wait_idle(page)
        assert sorted(p.name for p in registry.iterdir() if not p.name.startswith(".")) == ["trained"]
        assert page.get_by_role("combobox", name="Adapter", exact=True).input_value() == "trained"
        screenshot(page, "adapters_moved_to_trash")

        page.get_by_role("button", name="Restore", exact=True).click()
        page.get_by_text("Restored adapter copy").wait_for(timeout=60_000)
        wait_idle(page)
        assert sorted(p.name for p in registry.iterdir() if not p.name.startswith(".")) == ["copy", "trained"]
        screenshot(page, "adapters_restored")
