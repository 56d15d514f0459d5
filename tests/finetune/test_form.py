"""The New run form without widgets: defaults per task, the demo file and adapter name offered, and run settings
that LoraRunConfig accepts, cast and ordered as "Copy as code" shows them."""

from pathlib import Path

import pytest

from workbench.finetune import form
from workbench.finetune.config import LoraRunConfig

ROOT = Path(__file__).resolve().parents[2]


def form_values(**changes) -> dict:
    """What the page's widgets return for a default causal run (number inputs give floats)."""
    values = {"model": "smollm2-135m-instruct", "data": str(ROOT / "data" / "demo_dates_train.jsonl"),
              "adapter_name": "  demo_dates-lora ", "task": "causal", "rank": 8.0, "alpha": 16.0, "dropout": 0.05,
              "target_modules": ["q_proj", "v_proj"], "learning_rate": 0.002, "schedule": "linear",
              "warmup_steps": 10.0, "max_steps": 150.0, "epochs": 1, "batch_size": 4.0, "grad_accumulation": 1.0,
              "max_length": 128, "response_only": 1, "validation_fraction": 0.1, "eval_every": 25.0,
              "save_every": 50.0, "early_stopping_patience": 0.0, "quantize_4bit": 0, "packing": False,
              "precision": "fp32", "device": "cpu", "num_processes": 1.0}
    return {**values, **changes}


def test_encoders_classify_and_causal_models_continue_text():
    assert form.task_for("encoder") == "classification"
    assert form.task_for("causal") == "causal"
    assert form.model_caption("minilm-l6", "classification", "base model (no adapter)") == (
        "Base **minilm-l6** (classification: LoRA sequence classification on text/label data) · "
        "active adapter: **base model (no adapter)**")


def test_the_demo_training_file_for_the_task_is_offered_first_among_the_real_data_files():
    names = sorted(p.name for p in (ROOT / "data").glob("*.jsonl"))
    assert names[form.default_file_index(names, "causal")] == "demo_dates_train.jsonl"
    assert names[form.default_file_index(names, "classification")] == "demo_sentiment_train.jsonl"
    assert form.default_file_index(["own.csv"], "causal") == 0


def test_adapter_name_drops_the_train_suffix():
    assert form.default_adapter_name(ROOT / "data" / "demo_dates_train.jsonl") == "demo_dates-lora"
    assert form.default_adapter_name(Path("notes.txt")) == "notes-lora"


def test_form_starts_short_runs_and_encoders_with_bigger_batches():
    assert form.form_default("max_steps", "causal") == 150
    assert form.form_default("batch_size", "causal") == 4
    assert form.form_default("batch_size", "classification") == 8
    assert form.form_default("rank", "classification") == 8


def test_run_settings_cast_each_value_to_its_field_type_and_strip_the_name():
    settings = form.run_settings(form_values())
    assert list(settings) == list(form.SETTINGS_ORDER)
    assert settings["adapter_name"] == "demo_dates-lora"
    assert type(settings["rank"]) is int and type(settings["epochs"]) is float
    assert settings["response_only"] is True and settings["quantize_4bit"] is False
    assert LoraRunConfig(**settings).max_steps == 150


def test_run_settings_name_every_missing_value():
    values = form_values()
    del values["rank"], values["device"]
    with pytest.raises(KeyError, match="rank, device"):
        form.run_settings(values)


def test_default_targets_keep_only_modules_the_model_has(smollm2):
    from workbench.finetune.config import linear_module_names

    modules = linear_module_names(smollm2.model)
    assert form.default_targets(smollm2.info.model_type, modules) == ["q_proj", "v_proj"]
    assert form.default_targets(smollm2.info.model_type, ["o_proj"]) == []
