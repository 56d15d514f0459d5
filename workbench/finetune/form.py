"""The Fine-tune page's New run form without widgets: task and method for the loaded model, the form's defaults,
and the run settings built from the values its widgets return."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from workbench.finetune.config import LoraRunConfig, default_target_modules, field_default, resolve_precision

METHODS = {"classification": "LoRA sequence classification on text/label data", "causal": "LoRA causal LM"}
DEMO_FILES = {"classification": "demo_sentiment_train", "causal": "demo_dates_train"}  # name prefixes in data/
FORM_DEFAULTS = {"max_steps": 150}  # the page starts short runs; the config's 0 means "use epochs"
ENCODER_DEFAULTS = {"batch_size": 8}  # encoders take bigger batches
# The settings in the order "Copy as code" shows them; the rest stay at LoraRunConfig's defaults.
SETTINGS_ORDER = (
    "model", "data", "adapter_name", "task", "rank", "alpha", "dropout", "target_modules", "learning_rate",
    "schedule", "warmup_steps", "max_steps", "epochs", "batch_size", "grad_accumulation", "max_length",
    "response_only", "validation_fraction", "eval_every", "save_every", "early_stopping_patience", "quantize_4bit",
    "packing", "precision", "device", "num_processes",
)
CASTS = {"int": int, "float": float, "bool": bool}  # by LoraRunConfig's annotation; number widgets give floats


def task_for(kind: str) -> str:
    """The fine-tune task a loaded model takes: encoders classify text, causal models learn to continue it."""
    return "classification" if kind == "encoder" else "causal"


def model_caption(model: str, task: str, active: str) -> str:
    """The line under the title: the base, what a run on it trains, the active adapter."""
    return f"Base **{model}** ({task}: {METHODS[task]}) · active adapter: **{active}**"


def default_file_index(names: list[str], task: str) -> int:
    """The demo training file for the task among the data/ files, else the first."""
    return next((i for i, name in enumerate(names) if name.startswith(DEMO_FILES[task])), 0)


def default_adapter_name(path: Path) -> str:
    """The adapter name the form offers for a training file: `demo_dates_train.jsonl` -> `demo_dates-lora`."""
    return f"{path.stem.replace('_train', '')}-lora"


def default_targets(model_type: str, modules: list[str]) -> list[str]:
    """The architecture's usual LoRA targets that the loaded model has."""
    return [m for m in default_target_modules(model_type) if m in modules]


def form_default(name: str, task: str):
    """The form's starting value for a LoraRunConfig field: the page's own defaults first, then the config's."""
    if task == "classification" and name in ENCODER_DEFAULTS:
        return ENCODER_DEFAULTS[name]
    return FORM_DEFAULTS.get(name, field_default(name))


def run_settings(values: dict) -> dict:
    """LoraRunConfig's keyword arguments from the form's values (each cast to its field's type, the adapter name
    stripped), in SETTINGS_ORDER."""
    missing = [name for name in SETTINGS_ORDER if name not in values]
    if missing:
        raise KeyError(f"run_settings: no value for {', '.join(missing)}")
    types = {f.name: f.type for f in fields(LoraRunConfig)}
    settings = {name: CASTS.get(types[name], lambda v: v)(values[name]) for name in SETTINGS_ORDER}
    settings["adapter_name"] = settings["adapter_name"].strip()
    return settings


def auto_precision_caption(device: str) -> str:
    """What "auto" precision picks for a run on `device` (auto, cpu or cuda) here; the job log says it again."""
    import torch

    on_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    value, reason = resolve_precision("auto", "cuda" if on_cuda else "cpu")
    return f"auto picks {value} here ({reason.removeprefix('auto: ')})"


def started_message(job_id: str) -> str:
    return f"Job {job_id} started: watch it in the Jobs tab."
