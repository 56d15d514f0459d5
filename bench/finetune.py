"""Training tokens/s of our LoRA loop against plain HF `Trainer` + PEFT, same data, config and threads, same run.

`python -m bench finetune` (env BENCH_FT_STEPS, default 20). Tokens are non-padding tokens; time is the sum of
optimizer-step times (model loading, tokenising and saving excluded on both sides).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "demo_dates_train.jsonl"


def _config(steps: int, grouping: bool):
    from workbench.finetune.config import LoraRunConfig

    return LoraRunConfig(data=str(DATA), max_steps=steps, batch_size=4, warmup_steps=2, validation_fraction=0.0,
                         save_every=10_000, log_every=1, length_grouping=grouping, cpu_threads=torch.get_num_threads())


def ours(steps: int, grouping: bool) -> tuple[float, float]:
    """(tokens, seconds) of our loop."""
    from workbench.finetune import train

    run = Path(tempfile.mkdtemp(prefix="bench-ft-"))
    (run / "config.json").write_text(_config(steps, grouping).to_json())
    result = train.train(run)
    assert result.steps == steps
    meta = json.loads((run / "adapter" / "workbench_adapter.json").read_text())["metrics"]
    return meta["tokens"], meta["train_seconds"]


def hf_trainer(steps: int) -> tuple[float, float]:
    """(tokens, seconds) of transformers.Trainer + PEFT on the same rows, LoRA config and schedule."""
    import transformers
    from peft import LoraConfig, get_peft_model

    from workbench.finetune import data
    from workbench.models import ModelSpec, locate

    config = _config(steps, False)
    source = locate(ModelSpec(config.model))
    tok = transformers.AutoTokenizer.from_pretrained(source)
    ds = data.read_dataset(DATA, tok, config.max_length, task="causal")
    train_idx, _ = data.split_indices(len(ds.rows), 0.0, config.seed)
    rows = [data.tokenize_row(ds.format, ds.rows[i], tok) for i in train_idx]
    model = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    torch.manual_seed(config.seed)
    model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                                             target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    counted = {"tokens": 0}
    base_collator = transformers.DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=data.IGNORE_INDEX)

    def collate(features):
        batch = base_collator([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features])
        counted["tokens"] += int(batch["attention_mask"].sum())
        return batch

    timer = {"start": 0.0, "total": 0.0}

    class StepTimer(transformers.TrainerCallback):
        def on_step_begin(self, *a, **k):
            timer["start"] = time.perf_counter()

        def on_step_end(self, *a, **k):
            timer["total"] += time.perf_counter() - timer["start"]

    args = transformers.TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-hf-"), per_device_train_batch_size=config.batch_size,
        max_steps=steps, learning_rate=config.learning_rate, lr_scheduler_type="linear",
        warmup_steps=config.warmup_steps, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
        dataloader_num_workers=0, remove_unused_columns=False, seed=config.seed, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows, data_collator=collate,
                                   callbacks=[StepTimer()])
    trainer.train()
    return counted["tokens"], timer["total"]


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    steps = int(os.environ.get("BENCH_FT_STEPS", "20"))
    threads = 1 if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1) else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    print(f"SmolLM2-135M LoRA r=8 q/v, batch 4, {steps} steps on {DATA.name}, {threads} CPU thread(s), "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    results = {}
    for name, fn in [("hf_trainer", lambda: hf_trainer(steps)), ("ours", lambda: ours(steps, True)),
                     ("ours_no_grouping", lambda: ours(steps, False))]:
        tokens, seconds = fn()
        results[name] = tokens / seconds
        print(f"{name:<18} {tokens:>7.0f} tokens in {seconds:6.1f} s = {tokens / seconds:7.1f} tokens/s", flush=True)
    print(f"ratio ours / HF Trainer (length-grouped batches): {results['ours'] / results['hf_trainer']:.2f}")
    ungrouped = results["ours_no_grouping"] / results["hf_trainer"]
    print(f"ratio ours without grouping / HF Trainer:         {ungrouped:.2f}")


if __name__ == "__main__":
    main()
