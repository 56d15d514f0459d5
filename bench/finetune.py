"""Training tokens/s of our LoRA loop (unpacked, packed, packed in bf16) against plain HF `Trainer` + PEFT in
float32 (what a user gets by default) and in bf16 as a user sets it up (base loaded in bfloat16, `bf16=True`
autocast; like for like with our bf16, which stores the frozen base in bfloat16 too): same data, LoRA config,
schedule, fused AdamW and threads, in one process.

Interleaved step by step: every candidate is built once, then each runs one optimizer step in turn (Trainer,
Trainer bf16, ours, ...), so a slow minute of the machine hits all of them alike. Each candidate runs in a thread of
its own, held after every step until it is its turn again (Trainer's own `train()`, held by a callback).
After WARMUP steps each, a round is `BENCH_FT_STEPS` steps of every candidate; a candidate's tokens/s in a round
is its tokens over its step seconds, and each ratio is the median over rounds. Flags the run invalid when the load
average at start is 0.5 or more; ends with one JSON line.

`python -m bench finetune` (env BENCH_FT_STEPS, default 4 steps a round; BENCH_FT_ROUNDS, default 8). Tokens are
non-padding tokens; time is optimizer-step time (model loading, tokenising and saving excluded on both sides).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

from bench import load_at_start

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "demo_dates_train.jsonl"
WARMUP = 2  # steps of every candidate before the rounds: first-step allocations and kernel set-up
STEP_TIMEOUT_S = 900
PAUSE_S = 0.25  # idle time before each step (not timed)


def _config(steps: int, grouping: bool, packing: bool = False, precision: str = "fp32"):
    from workbench.finetune.config import LoraRunConfig

    return LoraRunConfig(data=str(DATA), max_steps=steps, batch_size=4, warmup_steps=2, validation_fraction=0.0,
                         save_every=10_000, log_every=1, length_grouping=grouping, packing=packing,
                         precision=precision, cpu_threads=torch.get_num_threads())


class _Turns:
    """A candidate in a thread of its own that runs one optimizer step each time it is let go and is held between
    steps. Every candidate alike has its own thread (so its own OpenMP thread team), never two run at once, and
    each step starts PAUSE_S after the previous one ended (the last team's spinning workers have gone to sleep)."""

    def __init__(self) -> None:
        self.go, self.done = threading.Semaphore(0), threading.Semaphore(0)
        self.last: tuple[int, float] = (0, 0.0)
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def _start(self, target, *args) -> None:
        self.thread = threading.Thread(target=self._guarded, args=(target, *args), daemon=True)
        self.thread.start()
        self._wait()  # set-up done, held before its first step

    def _guarded(self, target, *args) -> None:
        try:
            target(*args)
        except BaseException as err:  # noqa: BLE001 - handed to the main thread, which raises it
            self.error = err
        self.done.release()

    def _wait(self) -> None:
        if not self.done.acquire(timeout=STEP_TIMEOUT_S) or self.error is not None:
            raise RuntimeError(f"the candidate did not finish its step: {self.error!r}")

    def _hold(self) -> None:
        """Called by the candidate's thread after set-up and after each step."""
        self.done.release()
        self.go.acquire()

    def step(self) -> tuple[int, float]:
        time.sleep(PAUSE_S)
        self.go.release()
        self._wait()
        return self.last

    def close(self) -> None:
        self.go.release()  # let the thread run to its end
        self.thread.join(timeout=STEP_TIMEOUT_S)


class Ours(_Turns):
    """Our loop one optimizer step at a time: the step of `train.train`, without its logging and checkpoints."""

    def __init__(self, steps: int, packing: bool = False, precision: str = "fp32") -> None:
        super().__init__()
        self._start(self._train, steps, packing, precision)

    def _train(self, steps: int, packing: bool, precision: str) -> None:
        from workbench.finetune import train

        run_dir = Path(tempfile.mkdtemp(prefix="bench-ft-"))
        (run_dir / "config.json").write_text(_config(steps, True, packing, precision).to_json())
        run = train._set_up(run_dir, None, None)
        batches = run.plan(0)
        self._hold()
        while run.state.step < run.state.max_steps:
            tokens, seconds = run.state.tokens, run.state.seconds
            batches = train._optimizer_step(run, batches)
            self.last = (run.state.tokens - tokens, run.state.seconds - seconds)
            self._hold()


class HFTrainer(_Turns):
    """transformers.Trainer + PEFT on the same rows, LoRA config and schedule, its `train()` held by a callback after
    every step; `bf16` loads the base in bfloat16 and sets TrainingArguments' bf16 (autocast)."""

    def __init__(self, steps: int, bf16: bool = False) -> None:
        super().__init__()
        self.counted = {"tokens": 0}  # tokens of the batches the model ran (a collate count includes prefetched ones)
        self._start(lambda: self._trainer(steps, bf16).train())

    def _trainer(self, steps: int, bf16: bool):
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
        model = transformers.AutoModelForCausalLM.from_pretrained(
            source, dtype=torch.bfloat16 if bf16 else torch.float32)
        torch.manual_seed(config.seed)
        model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                                                 target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
        collate = transformers.DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=data.IGNORE_INDEX)
        model.register_forward_pre_hook(self._count, with_kwargs=True)
        args = transformers.TrainingArguments(
            output_dir=tempfile.mkdtemp(prefix="bench-hf-"), per_device_train_batch_size=config.batch_size,
            max_steps=steps, learning_rate=config.learning_rate, lr_scheduler_type="linear",
            warmup_steps=config.warmup_steps, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
            dataloader_num_workers=0, remove_unused_columns=False, seed=config.seed, disable_tqdm=True, bf16=bf16)
        rows = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
        return transformers.Trainer(model=model, args=args, train_dataset=rows, data_collator=collate,
                                    callbacks=[self._gate()])

    def _count(self, _module, _args, kwargs) -> None:
        self.counted["tokens"] += int(kwargs["attention_mask"].sum())

    def _gate(self):
        import transformers

        outer, mark = self, {"tokens": 0, "start": 0.0}

        class Gate(transformers.TrainerCallback):
            def on_train_begin(self, *_a, **_k):
                outer._hold()

            def on_step_begin(self, *_a, **_k):
                mark.update(tokens=outer.counted["tokens"], start=time.perf_counter())

            def on_step_end(self, *_a, **_k):
                outer.last = (outer.counted["tokens"] - mark["tokens"], time.perf_counter() - mark["start"])
                outer._hold()

        return Gate()


CANDIDATES = {  # name -> builder(steps); run in this order in every step of every round, the Trainers first
    "hf_trainer": lambda steps: HFTrainer(steps),
    "hf_trainer_bf16": lambda steps: HFTrainer(steps, bf16=True),
    "ours": lambda steps: Ours(steps),
    "ours_packed": lambda steps: Ours(steps, packing=True),
    "ours_packed_bf16": lambda steps: Ours(steps, packing=True, precision="bf16"),
}
BASELINES = ("hf_trainer", "hf_trainer_bf16")  # float32, the default a user gets; bf16, like for like
GOALS = {("ours", "hf_trainer"): 1.0, ("ours_packed_bf16", "hf_trainer"): 1.5}  # issue 17, against the default


def _ratio_line(speeds: dict[str, float]) -> str:
    """One round's ratios: each of ours over each Trainer."""
    return "  ".join(f"{name}/{base} {speeds[name] / speeds[base]:.2f}x"
                     for base in BASELINES for name in speeds if name not in BASELINES)


def _rounds(candidates: dict, rounds: int, steps: int) -> dict[str, list[float]]:
    """Tokens/s of every candidate in every round, the candidates taking turns step by step."""
    for _ in range(WARMUP):
        for c in candidates.values():
            c.step()
    speeds: dict[str, list[float]] = {name: [] for name in candidates}
    for r in range(rounds):
        totals = {name: [0, 0.0] for name in candidates}
        for _ in range(steps):
            for name, c in candidates.items():
                tokens, seconds = c.step()
                totals[name][0] += tokens
                totals[name][1] += seconds
        for name, (tokens, seconds) in totals.items():
            speeds[name].append(tokens / seconds)
            print(f"round {r + 1}  {name:<16} {tokens:>6} tokens in {seconds:5.1f} s = {tokens / seconds:6.1f} "
                  "tokens/s", flush=True)
        print(f"round {r + 1}  " + _ratio_line({name: s[r] for name, s in speeds.items()}), flush=True)
    return speeds


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    steps = int(os.environ.get("BENCH_FT_STEPS", "4"))
    rounds = int(os.environ.get("BENCH_FT_ROUNDS", "8"))
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    print(f"SmolLM2-135M LoRA r=8 q/v, batch 4 (packed: 4 sequences of 128 tokens), {threads} CPU thread(s) on every "
          f"side, {WARMUP} warm-up steps then {rounds} rounds of {steps} steps, interleaved step by step "
          f"on {DATA.name}", flush=True)
    load_average, valid = load_at_start()
    total = WARMUP + rounds * steps
    candidates = {name: build(total) for name, build in CANDIDATES.items()}
    try:
        speeds = _rounds(candidates, rounds, steps)
    finally:
        for c in candidates.values():
            c.close()
    ratios = {f"{name}/{base}": [s / b for s, b in zip(speeds[name], speeds[base])]
              for base in BASELINES for name in CANDIDATES if name not in BASELINES}
    figures = {key: {"median": statistics.median(r), "spread": [min(r), max(r)]} for key, r in ratios.items()}
    note = "" if valid else " (INVALID run: loaded machine)"
    for key, f in figures.items():
        goal = GOALS.get(tuple(key.split("/")))
        print(f"{key} tokens/s: {f['median']:.2f}x [{f['spread'][0]:.2f}-{f['spread'][1]:.2f}], median of {rounds} "
              "rounds" + (f"; goal at least {goal}x" if goal else "") + note, flush=True)
    print(json.dumps({"bench": "finetune", "valid": valid, "load_average": load_average, "threads": threads,
                      "warmup_steps": WARMUP, "steps_per_round": steps, "rounds": rounds, "tokens_per_s": speeds,
                      "ratios": figures, "goals": {"/".join(k): v for k, v in GOALS.items()}}))


if __name__ == "__main__":
    main()
