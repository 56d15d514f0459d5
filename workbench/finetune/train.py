"""The training entry point: `python -m workbench.finetune.train RUN_DIR`, unchanged under `accelerate launch`.

RUN_DIR holds config.json (a LoraRunConfig); the run appends metrics.jsonl, writes checkpoints/, and at the
end writes the adapter (registered under `adapter_name` when the run belongs to a job, else RUN_DIR/adapter).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from workbench.errors import WorkbenchError
from workbench.finetune import checkpoints, data
from workbench.finetune.checkpoints import TrainState
from workbench.finetune.config import LoraRunConfig, configure_cpu_threads, default_target_modules, resolve_precision
from workbench.finetune.records import HEARTBEAT_S, RunPaths, append_metrics, process_identity, update_job
from workbench.models import ModelSpec, adapters, batching, locate
from workbench.models.loading import check_weights_format, hub_rules, weight_rules

RecordCallback = Callable[[dict], None]  # receives each metrics record (not workbench.progress.Progress)


@dataclass(frozen=True)
class TrainResult:
    status: str          # done | stopped
    steps: int
    train_loss: float | None
    val_loss: float | None
    tokens_per_s: float
    adapter_path: Path | None
    message: str = ""


class _Examples:
    """Tokenised rows with a collate that pads to the longest row of each batch, or packs rows (causal only)."""

    def __init__(self, items: list[dict], pad_id: int, task: str) -> None:
        self.items, self.pad_id, self.task = items, pad_id, task
        self.lengths = [len(x["input_ids"]) for x in items]

    def batch(self, indices: list[int], device) -> dict[str, torch.Tensor]:
        rows = [self.items[i] for i in indices]
        ids, mask = batching.right_pad([r["input_ids"] for r in rows], self.pad_id)  # (B, T)
        if self.task == "causal":
            labels = batching.right_pad([r["labels"] for r in rows], data.IGNORE_INDEX)[0]  # (B, T)
        else:
            labels = torch.tensor([r["labels"] for r in rows], dtype=torch.long)  # (B,)
        return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}

    def packed(self, packs: list[list[int]], device) -> dict[str, torch.Tensor]:
        """One sequence per pack of row indices: input_ids, labels, position_ids (B, T), no attention mask."""
        rows = [[(self.items[i]["input_ids"], self.items[i]["labels"]) for i in p] for p in packs]
        return {k: v.to(device) for k, v in batching.packed_rows(rows, self.pad_id, data.IGNORE_INDEX).items()}


def epoch_batches(lengths: list[int], epoch: int, global_batch: int, seed: int, group: bool,
                  pack_to: int = 0) -> list[list]:
    """The data order of one epoch, a pure function of (seed, epoch) so a resume replays it exactly: batches of
    row indices, or with `pack_to` batches of packs (lists of row indices of at most pack_to tokens in all)."""
    order = list(range(len(lengths)))
    rng = random.Random(seed * 1_000_003 + epoch)
    rng.shuffle(order)
    if pack_to:
        packs = batching.pack(order, lengths, pack_to)
        if len(packs) < global_batch:  # this epoch's order packed tighter than the count the batch was sized by
            return [packs]
        return [packs[s:s + global_batch] for s in range(0, len(packs) - global_batch + 1, global_batch)]
    if group:  # sort inside windows of 50 batches: similar lengths share a batch, order stays random
        window = global_batch * 50
        order = [i for s in range(0, len(order), window)
                 for i in sorted(order[s:s + window], key=lambda i: lengths[i])]
    batches = [order[s:s + global_batch] for s in range(0, len(order) - global_batch + 1, global_batch)]
    if group:
        rng.shuffle(batches)
    return batches


# Causal LMs whose forward is exactly `lm_head(decoder(...))`: the training loss computes logits only where a
# label is counted (the response tokens), not over the whole vocabulary at every position.
TARGET_ONLY_LOGITS = {"llama", "mistral", "qwen2", "qwen3", "smollm3"}


def causal_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean next-token loss over the labelled targets, equal to `model(**batch).loss`; for the models in
    TARGET_ONLY_LOGITS the (N, V) logits are computed for the N targets only (a demo row has 8 of 42)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if base.config.model_type not in TARGET_ONLY_LOGITS:
        return model(**batch, use_cache=False).loss
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = base.get_decoder()(**inputs, use_cache=False).last_hidden_state  # (B, T, d)
    targets = batch["labels"][:, 1:]  # (B, T-1): position t predicts token t+1
    keep = targets != data.IGNORE_INDEX
    head = base.get_output_embeddings()
    with torch.autocast(hidden.device.type, enabled=False):  # the few target logits and the loss in float32
        logits = torch.nn.functional.linear(hidden[:, :-1][keep].float(), head.weight.float(),
                                            None if head.bias is None else head.bias.float())  # (N, V)
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def autocast(device: torch.device, precision: str):
    """The forward pass's precision: bfloat16 autocast for "bf16" (parameters, gradients and optimizer stay in
    their own dtype, float32 for LoRA), nothing for "fp32"."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def prepare_data(config: LoraRunConfig, tokenizer) -> tuple[data.Dataset, _Examples, _Examples]:
    """Validate the file (every bad row raises), split it, tokenise both parts."""
    dataset = data.read_dataset(config.data, tokenizer, config.max_length, task=config.task)
    dataset.raise_for_errors()
    label_ids = {name: i for i, name in enumerate(dataset.labels)}
    items = [data.tokenize_row(dataset.format, r, tokenizer, response_only=config.response_only,
                               label_ids=label_ids) for r in dataset.rows]
    if config.task == "classification":
        for it in items:
            it["input_ids"] = it["input_ids"][:config.max_length]
    train_idx, val_idx = data.split_indices(len(items), config.validation_fraction, config.seed)
    pad = batching.padding_id(tokenizer)
    return (dataset, _Examples([items[i] for i in train_idx], pad, config.task),
            _Examples([items[i] for i in val_idx], pad, config.task))


def build_model(config: LoraRunConfig, device: torch.device, labels: list[str], precision: str = "fp32"):
    """A fresh base model (never the app's shared one) wrapped with LoRA; returns (peft_model, tokenizer). In bf16
    the frozen base is stored in bfloat16, on CPU as on CUDA: autocast would compute in bfloat16 anyway, and this
    saves casting every weight and activation at every step (half the memory traffic); else float32. Whatever
    trains (LoRA weights, a classification head) is float32, so AdamW's updates are not rounded to bfloat16."""
    import transformers
    from peft import LoraConfig, get_peft_model

    spec = ModelSpec(config.model)  # the app's loading rules: offline, safetensors only, no remote code
    source = locate(spec)
    check_weights_format(source, spec)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, **hub_rules(spec))
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    kwargs: dict = {"dtype": dtype, **hub_rules(spec), **weight_rules(spec)}
    if config.quantize_4bit:
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
    if config.task == "classification":
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=len(labels), id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)}, **kwargs)
    else:
        model = transformers.AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if config.quantize_4bit:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model)
    lora = LoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=config.target_modules or default_target_modules(model.config.model_type),
        task_type="SEQ_CLS" if config.task == "classification" else "CAUSAL_LM",
        modules_to_save=["classifier"] if config.task == "classification" else None)
    torch.manual_seed(config.seed)  # LoRA init
    peft_model = get_peft_model(model, lora)
    for param in peft_model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    return peft_model, tokenizer


@torch.no_grad()
def validation_loss(model, examples: _Examples, batch_size: int, device, precision: str = "fp32") -> float | None:
    """Mean loss per target (token or row) over the validation split, in the run's precision."""
    if not examples.items:
        return None
    model.eval()
    total, count = 0.0, 0
    for s in range(0, len(examples.items), batch_size):
        batch = examples.batch(list(range(s, min(s + batch_size, len(examples.items)))), device)
        if examples.task == "causal":
            n = int((batch["labels"][:, 1:] != data.IGNORE_INDEX).sum())  # targets after the causal shift
        else:
            n = len(batch["labels"])
        with autocast(torch.device(device), precision):
            total += model(**batch).loss.float().item() * n
        count += n
    model.train()
    return total / count


def _plain_failure(err: BaseException) -> str:
    """A failure reason a user can act on."""
    if isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower():
        return "ran out of memory: lower the batch size or the max length"
    if isinstance(err, data.WorkbenchError):
        return str(err)
    return f"{type(err).__name__}: {err}"


@dataclass
class _Run:
    """Everything one training process holds between steps."""

    paths: RunPaths
    config: LoraRunConfig
    accelerator: object  # accelerate.Accelerator
    model: torch.nn.Module  # prepared by accelerate (DDP-wrapped when world > 1)
    tokenizer: object
    optimizer: torch.optim.Optimizer
    scheduler: object
    dataset: data.Dataset
    train_set: _Examples
    val_set: _Examples
    state: TrainState
    resumed: bool
    job_id: str | None
    on_record: RecordCallback | None
    precision: str = "fp32"  # fp32 | bf16, resolved from the config's (maybe auto) setting
    precision_reason: str = ""
    speed: float = 0.0  # tokens/s, smoothed
    last_loss: float | None = None
    val_loss: float | None = None

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def pack_to(self) -> int:
        """Tokens per packed sequence, or 0 when rows are batched one per sequence."""
        return pack_length(self.config)

    def plan(self, epoch: int) -> list[list]:
        return epoch_batches(self.train_set.lengths, epoch, self.config.batch_size * self.accelerator.num_processes,
                             self.config.seed, self.config.length_grouping, self.pack_to)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with autocast(self.accelerator.device, self.precision):
            if self.config.task == "causal" and self.accelerator.num_processes == 1:
                return causal_loss(self.model, batch)
            return self.model(**batch).loss.float()  # DDP: through the wrapper's forward, which syncs gradients


def pack_length(config: LoraRunConfig) -> int:
    return config.max_length if config.packing and config.task == "causal" else 0


def _max_steps(config: LoraRunConfig, lengths: list[int], world: int) -> int:
    """Optimizer steps of the run: max_steps, else epochs over whole global batches (of packs when packing)."""
    global_batch = config.batch_size * world
    pack_to = pack_length(config)
    units = len(batching.pack(range(len(lengths)), lengths, pack_to)) if pack_to else len(lengths)
    what = f"packed sequences ({len(lengths)} rows)" if pack_to else "rows"
    if units < world:
        raise data.DataError(f"the training split has {units} {what}, fewer than the {world} training "
                             "processes; add rows or use one process", path=str(config.data))
    if units < global_batch:  # a small file still trains: the batch shrinks to what the split holds
        config.batch_size = units // world
        global_batch = config.batch_size * world
        print(f"warning: the training split has {units} {what}, fewer than one batch; the batch size is "
              f"{config.batch_size} per process for this run", flush=True)
    steps_per_epoch = max(1, units // global_batch // config.grad_accumulation)
    return config.max_steps or math.ceil(config.epochs * steps_per_epoch)


def _set_up(run_dir: Path, job_id: str | None, on_record: RecordCallback | None) -> _Run:
    """Model, data, optimizer and schedule; restored from the latest checkpoint when there is one."""
    from accelerate import Accelerator
    from transformers import get_scheduler

    paths = RunPaths(run_dir)
    config = LoraRunConfig.load(paths.config)
    accelerator = Accelerator(cpu=config.device == "cpu" or not torch.cuda.is_available())
    if accelerator.device.type == "cpu":
        configure_cpu_threads(config.cpu_threads, accelerator.num_processes)
    resume_from = checkpoints.latest_checkpoint(paths.checkpoints)
    recorded = checkpoints.read_state(resume_from).precision if resume_from is not None else ""
    precision, reason = ((recorded, "as the checkpoint was trained") if recorded
                         else resolve_precision(config.precision, accelerator.device.type))
    labels = data.read_dataset(config.data, task="classification").labels if config.task == "classification" else []
    peft_model, tokenizer = build_model(config, accelerator.device, labels, precision)
    dataset, train_set, val_set = prepare_data(config, tokenizer)
    max_steps = _max_steps(config, train_set.lengths, accelerator.num_processes)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay,
                                  fused=True)  # one kernel for all LoRA weights (as Trainer's default)
    scheduler = get_scheduler(config.schedule, optimizer, num_warmup_steps=config.warmup_steps,
                              num_training_steps=max_steps)
    state = TrainState(max_steps=max_steps, precision=precision)
    if resume_from is not None:
        state = checkpoints.load_checkpoint(resume_from, peft_model, optimizer, scheduler)
        state.max_steps, state.precision = max_steps, precision
    model, optimizer = accelerator.prepare(peft_model, optimizer)
    model.train()
    return _Run(paths, config, accelerator, model, tokenizer, optimizer, scheduler, dataset, train_set, val_set,
                state, resume_from is not None, job_id, on_record, precision, reason)


def _announce(run: _Run) -> None:
    """Mark the job running and print one line on what this process will do."""
    update_job(run.job_id, status="running", pid=os.getpid(), pid_start=process_identity(os.getpid()),
               started=time.time(), max_steps=run.state.max_steps,
               step=run.state.step, message="")
    print(f"{'resuming at step ' + str(run.state.step) if run.resumed else 'starting'}: {len(run.train_set.items)} "
          f"train / {len(run.val_set.items)} validation rows, {run.state.max_steps} steps, "
          f"{run.accelerator.num_processes} process(es), {torch.get_num_threads()} CPU thread(s) each"
          + (f", rows packed into sequences of {run.pack_to} tokens" if run.pack_to else "")
          + f", precision {run.precision} ({run.precision_reason})", flush=True)


def _optimizer_step(run: _Run, batches: list[list[int]]) -> list[list[int]]:
    """One optimizer step over grad_accumulation micro-batches; returns the (maybe next epoch's) batch order."""
    config, state, accelerator = run.config, run.state, run.accelerator
    world, rank, device = accelerator.num_processes, accelerator.process_index, accelerator.device
    t0 = time.perf_counter()
    step_tokens = torch.zeros(1, device=device)
    step_loss = torch.zeros(1, device=device)
    for micro in range(config.grad_accumulation):
        if state.batch_in_epoch >= len(batches):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            batches = run.plan(state.epoch)
        mine = batches[state.batch_in_epoch][rank * config.batch_size:(rank + 1) * config.batch_size]
        state.batch_in_epoch += 1
        batch = run.train_set.packed(mine, device) if run.pack_to else run.train_set.batch(mine, device)
        sync = micro == config.grad_accumulation - 1
        with accelerator.no_sync(run.model) if not sync and world > 1 else _null():
            loss = run.loss(batch) / config.grad_accumulation
            accelerator.backward(loss)
        step_loss += loss.detach()
        rows = [i for unit in mine for i in (unit if run.pack_to else [unit])]
        step_tokens += sum(run.train_set.lengths[i] for i in rows)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    state.step += 1
    step_loss = accelerator.reduce(step_loss, "mean")
    step_tokens = accelerator.reduce(step_tokens, "sum")
    elapsed = time.perf_counter() - t0
    state.seconds += elapsed
    state.tokens += int(step_tokens.item())
    fresh = step_tokens.item() / elapsed
    run.speed = fresh if run.speed == 0 else 0.8 * run.speed + 0.2 * fresh
    run.last_loss = step_loss.item()
    return batches


def _log_train(run: _Run) -> None:
    state = run.state
    if run.main and (state.step % run.config.log_every == 0 or state.step == state.max_steps):
        record = {"kind": "train", "step": state.step, "max_steps": state.max_steps, "loss": run.last_loss,
                  "lr": run.scheduler.get_last_lr()[0], "tokens_per_s": run.speed, "epoch": state.epoch,
                  "eta_s": (state.max_steps - state.step) * state.seconds / max(state.step, 1),
                  "time": time.time()}
        append_metrics(run.paths, record)
        _report(run.on_record, record, run.job_id, state)


def _validate(run: _Run) -> bool:
    """Validation loss when due (main process); True when early stopping says halt."""
    state, config = run.state, run.config
    if not run.val_set.items or not (state.step % config.eval_every == 0 or state.step == state.max_steps):
        return False
    early = False
    if run.main:
        run.val_loss = validation_loss(run.accelerator.unwrap_model(run.model), run.val_set, config.batch_size * 2,
                                       run.accelerator.device, run.precision)
        improved = state.best_val_loss is None or run.val_loss < state.best_val_loss - 1e-4
        state.best_val_loss = run.val_loss if improved else state.best_val_loss
        state.evals_without_improvement = 0 if improved else state.evals_without_improvement + 1
        early = 0 < config.early_stopping_patience <= state.evals_without_improvement
        record = {"kind": "eval", "step": state.step, "val_loss": run.val_loss, "time": time.time()}
        append_metrics(run.paths, record)
        _report(run.on_record, record, run.job_id, state)
    run.accelerator.wait_for_everyone()
    return early


def _halt_and_checkpoint(run: _Run, stop_asked: bool, early: bool) -> tuple[bool, bool]:
    """Agree across processes on (stopped, early stop); checkpoint when due or halting."""
    accelerator, state = run.accelerator, run.state
    flags = torch.tensor([float(stop_asked or run.paths.stop_request.exists()), float(early)],
                         device=accelerator.device)
    flags = accelerator.reduce(flags, "sum")
    stopped, early = flags[0].item() > 0, flags[1].item() > 0
    if run.main and (state.step % run.config.save_every == 0 or stopped or early or state.step == state.max_steps):
        checkpoints.save_checkpoint(run.paths.checkpoints, accelerator.unwrap_model(run.model), run.optimizer,
                                    run.scheduler, state)
    accelerator.wait_for_everyone()
    return stopped, early


def _finish(run: _Run, status: str, message: str) -> TrainResult:
    """Write the adapter of a finished run (main process) and say how the run ended."""
    state = run.state
    adapter_path = None
    if run.main and status == "done":
        adapter_path = _write_adapter(run.accelerator.unwrap_model(run.model), run.tokenizer, run.config, run.paths,
                                      run.job_id, run.dataset,
                                      {"steps": state.step, "train_loss": run.last_loss, "val_loss": run.val_loss,
                                       "best_val_loss": state.best_val_loss, "tokens_per_s": run.speed,
                                       "train_seconds": state.seconds, "tokens": state.tokens,
                                       "precision": run.precision})
    run.accelerator.wait_for_everyone()
    return TrainResult(status, state.step, run.last_loss, run.val_loss, run.speed, adapter_path, message)


def train(run_dir: Path | str, *, job_id: str | None = None, on_record: RecordCallback | None = None) -> TrainResult:
    """Run (or resume) the run in `run_dir` to its max_steps; register the adapter on success."""
    run = _set_up(Path(run_dir), job_id, on_record)
    if run.main:
        _announce(run)
    stop = {"asked": False}
    if threading.current_thread() is threading.main_thread():  # SIGTERM stops like the Stop button
        signal.signal(signal.SIGTERM, lambda *_: stop.update(asked=True))
    config, state = run.config, run.state
    batches = run.plan(state.epoch)
    while state.step < state.max_steps:
        batches = _optimizer_step(run, batches)
        _log_train(run)
        stopped, early = _halt_and_checkpoint(run, stop["asked"], _validate(run))
        if stopped:
            return _finish(run, "stopped", f"stopped at step {state.step} on request; resume continues from here")
        if early:
            return _finish(run, "done", f"early stop at step {state.step}: validation loss did not improve for "
                                        f"{config.early_stopping_patience} evaluations")
    return _finish(run, "done", "")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *_exc_info):
        return False


def _report(on_record: RecordCallback | None, record: dict, job_id: str | None, state: TrainState) -> None:
    if on_record:
        on_record(record)
    if job_id and record["kind"] == "train":
        update_job(job_id, step=state.step, max_steps=state.max_steps)


def _write_adapter(peft_model, tokenizer, config: LoraRunConfig, paths: RunPaths, job_id: str | None,
                   dataset: data.Dataset, metrics: dict) -> Path:
    """Save into a staging folder, then register (jobs) or move to RUN_DIR/adapter (CLI runs)."""
    metadata = {"base_model": config.model, "task": config.task, "data_file": str(config.data),
                "data_sha256": dataset.sha256, "data_format": dataset.format, "config": asdict(config),
                "metrics": metrics, "labels": dataset.labels, "job": job_id, "created": time.time()}
    name = config.adapter_name
    if job_id and name:
        staging = adapters.staging_dir(name)
        peft_model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        info = adapters.register(staging, name, metadata)
        update_job(job_id, metrics=metrics)
        return info.path
    staging = paths.root / ".adapter-staging"
    shutil.rmtree(staging, ignore_errors=True)
    peft_model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / adapters.METADATA_FILE).write_text(
        json.dumps({**metadata, "name": name or paths.root.name}, indent=2, default=str))
    shutil.rmtree(paths.adapter, ignore_errors=True)
    staging.rename(paths.adapter)
    if name:
        reg = adapters.staging_dir(name)
        shutil.copytree(paths.adapter, reg, dirs_exist_ok=True)
        adapters.register(reg, name, metadata)
    return paths.adapter


def start_heartbeat(job_id: str, every_s: float = HEARTBEAT_S) -> threading.Thread:
    """A daemon thread that stamps the job row every `every_s` seconds while this process lives, from model loading
    on (a step may take minutes, so the steps cannot be the heartbeat). It ends when the row is gone."""
    def beat() -> None:
        while True:
            try:
                update_job(job_id, heartbeat=time.time())
            except WorkbenchError:  # the row was deleted: nobody is listening
                return
            except Exception as err:  # noqa: BLE001 - a busy store must not end the training; try again next beat
                print(f"heartbeat not written: {err}", file=sys.stderr, flush=True)
            time.sleep(every_s)

    thread = threading.Thread(target=beat, name="workbench-heartbeat", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    """Entry point for job processes and `accelerate launch`: records the outcome in the job row."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m workbench.finetune.train RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[0]).resolve()
    job_id = os.environ.get("WORKBENCH_JOB_ID") or None
    rank0 = os.environ.get("RANK", "0") == "0"
    if rank0 and job_id:
        start_heartbeat(job_id)
    try:
        result = train(run_dir, job_id=job_id)
    except BaseException as err:  # noqa: BLE001 - the job row must say why the process ended
        traceback.print_exc()
        if rank0:
            update_job(job_id, status="failed", message=_plain_failure(err), finished=time.time(), pid=None)
        return 1
    if rank0:
        update_job(job_id, status=result.status, message=result.message, finished=time.time(), pid=None)
        print(f"{result.status}: {result.steps} steps, train loss {result.train_loss}, val loss {result.val_loss}"
              + (f", adapter {result.adapter_path}" if result.adapter_path else ""), flush=True)
        if job_id:
            from workbench.finetune import jobs
            jobs.launch_next_queued()
    return 0


if __name__ == "__main__":
    sys.exit(main())
