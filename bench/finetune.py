"""Training tokens/s of our LoRA loop (unpacked, packed, packed in bf16) against plain HF `Trainer` + PEFT in
float32 (what a user gets by default) and in bf16 as a user sets it up (base loaded in bfloat16, `bf16=True`
autocast; like for like with our bf16, which stores the frozen base in bfloat16 too): same data, LoRA config,
schedule, fused AdamW and threads, in one run, interleaved (each candidate once per round, Trainer first); each
ratio is the median over rounds. Flags the run invalid when the load average at start is 0.5 or more; ends with
one JSON line.

`python -m bench finetune` (env BENCH_FT_STEPS, default 20; BENCH_FT_ROUNDS, default 3). Tokens are non-padding
tokens; time is the sum of optimizer-step times (model loading, tokenising and saving excluded on both sides).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench import load_at_start

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "demo_dates_train.jsonl"


def _config(steps: int, grouping: bool, packing: bool = False, precision: str = "fp32"):
    from workbench.finetune.config import LoraRunConfig

    return LoraRunConfig(data=str(DATA), max_steps=steps, batch_size=4, warmup_steps=2, validation_fraction=0.0,
                         save_every=10_000, log_every=1, length_grouping=grouping, packing=packing,
                         precision=precision, cpu_threads=torch.get_num_threads())


def ours(steps: int, grouping: bool, packing: bool = False, precision: str = "fp32") -> tuple[float, float]:
    """(tokens, seconds) of our loop."""
    from workbench.finetune import train

    run = Path(tempfile.mkdtemp(prefix="bench-ft-"))
    (run / "config.json").write_text(_config(steps, grouping, packing, precision).to_json())
    result = train.train(run)
    assert result.steps == steps
    meta = json.loads((run / "adapter" / "workbench_adapter.json").read_text())["metrics"]
    return meta["tokens"], meta["train_seconds"]


def hf_trainer(steps: int, bf16: bool = False) -> tuple[float, float]:
    """(tokens, seconds) of transformers.Trainer + PEFT on the same rows, LoRA config and schedule; `bf16` loads the
    base in bfloat16 and sets TrainingArguments' bf16 (autocast, on CPU too); PEFT keeps LoRA in float32."""
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
    model = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16 if bf16 else torch.float32)
    torch.manual_seed(config.seed)
    model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                                             target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    collate = transformers.DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=data.IGNORE_INDEX)
    counted = {"tokens": 0}  # tokens of the batches the model ran (a collate count would include prefetched ones)
    model.register_forward_pre_hook(
        lambda _m, _args, kwargs: counted.update(tokens=counted["tokens"] + int(kwargs["attention_mask"].sum())),
        with_kwargs=True)

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
        dataloader_num_workers=0, remove_unused_columns=False, seed=config.seed, disable_tqdm=True, bf16=bf16)
    rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows, data_collator=collate,
                                   callbacks=[StepTimer()])
    trainer.train()
    return counted["tokens"], timer["total"]


CANDIDATES = {  # name -> (tokens, seconds); the Trainers first in every round
    "hf_trainer": lambda steps: hf_trainer(steps),
    "hf_trainer_bf16": lambda steps: hf_trainer(steps, bf16=True),
    "ours": lambda steps: ours(steps, True),
    "ours_packed": lambda steps: ours(steps, True, packing=True),
    "ours_packed_bf16": lambda steps: ours(steps, True, packing=True, precision="bf16"),
}
BASELINES = ("hf_trainer", "hf_trainer_bf16")  # float32, the default a user gets; bf16, like for like
GOALS = {("ours", "hf_trainer"): 1.0, ("ours_packed_bf16", "hf_trainer"): 1.5}  # issue 17, against the default


def _ratio_line(speeds: dict[str, float]) -> str:
    """One round's ratios: each of ours over each Trainer."""
    return "  ".join(f"{name}/{base} {speeds[name] / speeds[base]:.2f}x"
                     for base in BASELINES for name in speeds if name not in BASELINES)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    steps = int(os.environ.get("BENCH_FT_STEPS", "20"))
    rounds = int(os.environ.get("BENCH_FT_ROUNDS", "3"))
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    print(f"SmolLM2-135M LoRA r=8 q/v, batch 4 (packed: 4 sequences of 128 tokens), {steps} steps on {DATA.name}, "
          f"{threads} CPU thread(s) on every side, {rounds} interleaved rounds", flush=True)
    load_average, valid = load_at_start()
    speeds: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for r in range(rounds):
        for name, fn in CANDIDATES.items():
            tokens, seconds = fn(steps)
            speeds[name].append(tokens / seconds)
            print(f"round {r + 1}  {name:<16} {tokens:>7.0f} tokens in {seconds:6.1f} s = "
                  f"{tokens / seconds:7.1f} tokens/s", flush=True)
        print(f"round {r + 1}  " + _ratio_line({name: s[r] for name, s in speeds.items()}), flush=True)
    ratios = {f"{name}/{base}": [s / b for s, b in zip(speeds[name], speeds[base])]
              for base in BASELINES for name in CANDIDATES if name not in BASELINES}
    figures = {key: {"median": statistics.median(r), "spread": [min(r), max(r)]} for key, r in ratios.items()}
    note = "" if valid else " (INVALID run: loaded machine)"
    for key, f in figures.items():
        goal = GOALS.get(tuple(key.split("/")))
        print(f"{key} tokens/s: {f['median']:.2f}x [{f['spread'][0]:.2f}-{f['spread'][1]:.2f}], median of {rounds} "
              f"interleaved rounds" + (f"; goal at least {goal}x" if goal else "") + note, flush=True)
    print(json.dumps({"bench": "finetune", "valid": valid, "load_average": load_average, "threads": threads,
                      "steps": steps, "rounds": rounds, "tokens_per_s": speeds, "ratios": figures,
                      "goals": {"/".join(k): v for k, v in GOALS.items()}}))


if __name__ == "__main__":
    main()
