"""The Attention page's Base vs adapter view in headless Chromium on SmolLM2 with a real (random) LoRA adapter:
each component's change at a token, the adapter's graph, and the attribution with both (issue 15; screenshot for
the README)."""

import re
import shutil

import torch
from harness import ROOT, open_attention_view, screenshot, serve, wait_idle


def _random_adapter(name: str) -> None:
    """A real LoRA adapter with non-zero B on q_proj and v_proj, registered in the current workspace."""
    from peft import LoraConfig, get_peft_model

    from workbench.models import ModelSpec, adapters, load

    base = load(ModelSpec("smollm2-135m-instruct", device="cpu"))
    peft_model = get_peft_model(base.model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                       init_lora_weights=False, task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    for n, p in peft_model.named_parameters():
        if "lora_" in n:
            torch.nn.init.normal_(p, std=0.02)
    staging = adapters.staging_dir(name)
    peft_model.save_pretrained(staging)
    adapters.register(staging, name, {"base_model": base.info.name})


def test_base_vs_adapter_view_draws_the_change_and_the_attribution_with_both(page, tmp_path, monkeypatch):
    home = tmp_path / "workspace"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    _random_adapter("demo-lora")
    with serve(home, "adapter_diff") as url:
        open_attention_view(page, url, "Base vs adapter")
        page.get_by_role("combobox", name="Compare with adapter").click()
        page.get_by_role("option", name="demo-lora").click()
        page.get_by_text("Most changed components").wait_for(timeout=240_000)
        page.locator(".js-plotly-plot").first.wait_for(state="attached", timeout=120_000)
        wait_idle(page)
        assert page.get_by_text("demo-lora - base").count() >= 1
        page.get_by_role("button", name="Attribute with both").click()
        page.get_by_text(re.compile(r"^f = .* with the base model")).first.wait_for(timeout=240_000)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.set_viewport_size({"width": 1400, "height": 2600})
        wait_idle(page)
        shutil.copy(screenshot(page, "attention-adapter-diff"), ROOT / "docs" / "attention-adapter-diff.png")
