"""A real random LoRA adapter for the compare tests."""

import pytest
import torch


@pytest.fixture(scope="module")
def random_adapter(smollm2, tmp_path_factory):
    """A real LoRA adapter folder with non-zero B on q/v, made on a fresh base (the shared one may carry
    injected layers)."""
    from peft import LoraConfig, get_peft_model

    from workbench.models import load

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    folder = tmp_path_factory.mktemp("adapter") / "random-lora"
    get_peft_model(load(smollm2.spec).model, config).save_pretrained(folder)
    return folder
