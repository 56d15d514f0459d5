"""LoraRunConfig helpers a form is built from: declared defaults, and the Linear layers LoRA can target."""

import torch

from workbench.finetune.config import LoraRunConfig, default_target_modules, field_default, linear_module_names


def test_field_default_is_the_declared_default():
    made = LoraRunConfig()
    for name in ("rank", "learning_rate", "schedule", "response_only", "target_modules"):
        assert field_default(name) == getattr(made, name)


def _expected_linear_names(model):
    """Independent walk: every Linear's own name, without the output heads."""
    names = set()
    for module_name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            last = module_name.rsplit(".", 1)[-1]
            if last not in ("lm_head", "classifier"):
                names.add(last)
    return sorted(names)


def test_linear_module_names_on_smollm2_include_the_default_targets(smollm2):
    names = linear_module_names(smollm2.model)
    assert names == _expected_linear_names(smollm2.model)
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= set(names)
    assert "lm_head" not in names
    assert set(default_target_modules(smollm2.info.model_type)) <= set(names)


def test_linear_module_names_on_minilm_include_the_default_targets(minilm):
    names = linear_module_names(minilm.model)
    assert {"query", "key", "value", "dense"} <= set(names)
    assert set(default_target_modules(minilm.info.model_type)) <= set(names)
