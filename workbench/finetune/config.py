"""`LoraRunConfig`: every setting of one fine-tuning run, with help text beside each value, checked at construction."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from workbench.errors import InvalidSetting

TASKS = ("causal", "classification")
SCHEDULES = ("linear", "cosine", "constant", "constant_with_warmup")
PRECISIONS = ("auto", "fp32", "bf16")
FAST_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs with bfloat16 matrix instructions

# LoRA target modules per `config.model_type`; first match wins, the fallback covers most decoders.
TARGET_MODULES: dict[str, list[str]] = {
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "gemma": ["q_proj", "v_proj"],
    "gpt2": ["c_attn"],
    "gpt_neox": ["query_key_value"],
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
}
FALLBACK_TARGET_MODULES = ["q_proj", "v_proj"]


def default_target_modules(model_type: str) -> list[str]:
    """Sensible LoRA targets for an architecture: attention query and value projections."""
    return list(TARGET_MODULES.get(model_type, FALLBACK_TARGET_MODULES))


@dataclass
class LoraRunConfig:
    """One fine-tuning run; a form, the CLI and the JSON in the run folder are all made from these fields."""

    model: str = field(default="smollm2-135m-instruct",
                       metadata={"help": "Base model: embedded name, Hugging Face id or local folder."})
    data: str = field(default="", metadata={"help": "Training file (JSONL, CSV or TXT)."})
    adapter_name: str = field(default="", metadata={"help": "Name of the adapter in the registry."})
    task: str = field(default="causal",
                      metadata={"help": "causal (language model) or classification (text/label on an encoder)."})
    rank: int = field(default=8, metadata={"help": "LoRA rank r: size of the low-rank update."})
    alpha: int = field(default=16, metadata={"help": "LoRA alpha; the update is scaled by alpha / r."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    target_modules: list[str] = field(
        default_factory=list,
        metadata={"help": "Module names to adapt; empty: the default for the architecture (q/v projections)."})
    learning_rate: float = field(default=2e-3, metadata={"help": "Peak learning rate of AdamW."})
    schedule: str = field(default="linear", metadata={"help": f"Learning-rate schedule: {', '.join(SCHEDULES)}."})
    warmup_steps: int = field(default=10, metadata={"help": "Steps of linear warm-up."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_steps: int = field(default=0, metadata={"help": "Optimizer steps; 0: use epochs."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the training split when max_steps is 0."})
    batch_size: int = field(default=4, metadata={"help": "Examples per step per process."})
    grad_accumulation: int = field(default=1, metadata={"help": "Micro-batches summed before each step."})
    max_length: int = field(default=128, metadata={"help": "Tokens per example; longer rows are data errors "
                                                           "(classification truncates)."})
    response_only: bool = field(default=True, metadata={"help": "Loss on the response only (prompt/response "
                                                                "and chat data), not on the prompt."})
    validation_fraction: float = field(default=0.1, metadata={"help": "Share of rows held out for validation."})
    eval_every: int = field(default=25, metadata={"help": "Steps between validation-loss measurements."})
    save_every: int = field(default=50, metadata={"help": "Steps between checkpoints (resume points)."})
    log_every: int = field(default=1, metadata={"help": "Steps between training-loss log lines."})
    early_stopping_patience: int = field(
        default=0, metadata={"help": "Stop after this many evaluations without a better validation loss; 0: off."})
    seed: int = field(default=0, metadata={"help": "Seed for the split, data order, LoRA init and dropout."})
    length_grouping: bool = field(
        default=True, metadata={"help": "Batch rows of similar length together (less padding, faster)."})
    packing: bool = field(
        default=True, metadata={"help": "Causal LM: pack rows into sequences of max_length tokens (no attention "
                                        "across rows, positions restart per row, loss on the same tokens); "
                                        "batch_size then counts packed sequences. Classification ignores it."})
    quantize_4bit: bool = field(default=False,
                                metadata={"help": "QLoRA: load the base in 4-bit (needs CUDA and bitsandbytes)."})
    precision: str = field(
        default="auto", metadata={"help": "Forward-pass precision: bf16 (bfloat16 autocast; the LoRA weights, the "
                                          "optimizer and the loss stay float32), fp32, or auto: bf16 on a GPU "
                                          "with bfloat16 or a CPU with AMX or AVX-512 bf16, else fp32."})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda."})
    num_processes: int = field(default=1, metadata={"help": "Processes for `accelerate launch` (one per GPU)."})
    cpu_threads: int = field(default=0, metadata={"help": "CPU threads for torch; 0: one per core on an idle "
                                                          "machine, 1 on a busy one (oversubscribed threads "
                                                          "run many times slower)."})

    def __post_init__(self) -> None:
        checks = [
            (self.task in TASKS, "task", f"must be one of {TASKS}"),
            (self.schedule in SCHEDULES, "schedule", f"must be one of {SCHEDULES}"),
            (self.rank >= 1, "rank", "must be at least 1"),
            (self.alpha >= 1, "alpha", "must be at least 1"),
            (0 <= self.dropout < 1, "dropout", "must be in [0, 1)"),
            (0 < self.learning_rate < 1, "learning_rate", "must be in (0, 1)"),
            (self.warmup_steps >= 0, "warmup_steps", "must be 0 or more"),
            (self.max_steps >= 0, "max_steps", "must be 0 (use epochs) or more"),
            (self.max_steps > 0 or self.epochs > 0, "epochs", "must be above 0 when max_steps is 0"),
            (self.batch_size >= 1, "batch_size", "must be at least 1"),
            (self.grad_accumulation >= 1, "grad_accumulation", "must be at least 1"),
            (8 <= self.max_length <= 32768, "max_length", "must be between 8 and 32768"),
            (0 <= self.validation_fraction < 0.9, "validation_fraction", "must be in [0, 0.9)"),
            (self.eval_every >= 1, "eval_every", "must be at least 1"),
            (self.save_every >= 1, "save_every", "must be at least 1"),
            (self.log_every >= 1, "log_every", "must be at least 1"),
            (self.early_stopping_patience >= 0, "early_stopping_patience", "must be 0 (off) or more"),
            (self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}"),
            (self.device in ("auto", "cpu", "cuda"), "device", "must be auto, cpu or cuda"),
            (self.num_processes >= 1, "num_processes", "must be at least 1"),
            (self.cpu_threads >= 0, "cpu_threads", "must be 0 (auto) or more"),
        ]
        for ok, name, rule in checks:
            if not ok:
                raise InvalidSetting(f"`{name}` {rule}, got {getattr(self, name)!r}", field=name)
        if isinstance(self.target_modules, str):
            self.target_modules = [m.strip() for m in self.target_modules.split(",") if m.strip()]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, values: dict) -> LoraRunConfig:
        """Build from a dict, naming any unknown key instead of ignoring it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidSetting(f"unknown setting(s): {', '.join(unknown)}", field=unknown[0])
        return cls(**values)

    @classmethod
    def load(cls, path: Path | str) -> LoraRunConfig:
        values = json.loads(Path(path).read_text())
        values.setdefault("packing", False)  # a run written before packing existed trained (and resumes) unpacked
        values.setdefault("precision", "fp32")  # ... and before precision existed, in float32 on CPU
        return cls.from_dict(values)


def _field(name: str):
    return next(f for f in fields(LoraRunConfig) if f.name == name)


def help_text(name: str) -> str:
    """The help string of one field, for forms and `--help`."""
    return _field(name).metadata.get("help", "")


def field_default(name: str):
    """The declared default of one field, so a form never re-types it."""
    f = _field(name)
    return f.default if f.default is not MISSING else f.default_factory()


def linear_module_names(model) -> list[str]:
    """Names (last path part) of the model's Linear layers that LoRA can target; the output heads excluded."""
    import torch

    skip = {"lm_head", "classifier"}
    lora_parts = {"lora_A", "lora_B", "lora_magnitude_vector"}  # a PEFT wrapper's own small layers
    names = set()
    for path, module in model.named_modules():
        parts = path.split(".")
        if not isinstance(module, torch.nn.Linear) or lora_parts & set(parts):
            continue
        if parts[-1] == "base_layer":  # a Linear that LoRA already wraps keeps its own name one level up
            parts = parts[:-1]
        if parts[-1] not in skip:
            names.add(parts[-1])
    return sorted(names)


def cpu_bf16_flags(cpuinfo: Path | str = "/proc/cpuinfo") -> list[str]:
    """The CPU's flags among FAST_BF16_CPU_FLAGS (Linux); none where /proc/cpuinfo cannot be read."""
    try:
        with open(cpuinfo) as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return []
    return [flag for flag in FAST_BF16_CPU_FLAGS if flag in flags]


def resolve_precision(precision: str, device_type: str) -> tuple[str, str]:
    """The concrete precision of a run ("fp32" or "bf16") and why: auto picks bf16 only where it is fast, a CUDA
    GPU with bfloat16 or a CPU with bfloat16 matrix instructions (elsewhere bf16 autocast is emulated, slower)."""
    if precision != "auto":
        return precision, "as set"
    if device_type == "cuda":
        import torch

        fast = torch.cuda.is_bf16_supported()
        why = "this GPU supports bfloat16" if fast else "this GPU has no bfloat16"
    else:
        flags = cpu_bf16_flags()
        fast = bool(flags)
        why = f"this CPU has {' and '.join(flags) if fast else 'neither ' + ' nor '.join(FAST_BF16_CPU_FLAGS)}"
    return ("bf16" if fast else "fp32"), f"auto: {why}"


def busy_cores(sample_s: float = 0.5) -> float:
    """Cores other processes keep busy right now: the machine's busy time over a short sample (/proc/stat) less
    this process's own. Unlike the 1-minute load average it does not count the app's model load of a moment ago,
    which had an idle machine train on one thread."""
    import os
    import time

    def machine() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
        return sum(values), values[3] + values[4]  # total, idle + iowait (clock ticks)

    def own() -> int:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (clock ticks)

    try:
        (total0, idle0), own0 = machine(), own()
        time.sleep(sample_s)
        (total1, idle1), own1 = machine(), own()
    except (OSError, ValueError, IndexError):  # no /proc (not Linux): assume idle
        return 0.0
    elapsed = max(total1 - total0, 1)
    others = max((total1 - total0) - (idle1 - idle0) - (own1 - own0), 0)
    return others / elapsed * (os.cpu_count() or 1)


def configure_cpu_threads(requested: int = 0, processes: int = 1) -> int:
    """Set torch's CPU thread count: as requested, else every core (per process), fewer only when other
    processes keep cores busy right now, which is said in the job log."""
    import os

    import torch

    cores = max(1, (os.cpu_count() or 1) // processes)
    threads = requested
    if not threads:
        busy = busy_cores()
        threads = cores if busy < 0.5 * cores else max(1, cores - round(busy))
        if threads < cores:
            print(f"using {threads} of {cores} CPU threads: other processes keep {busy:.1f} cores busy", flush=True)
    torch.set_num_threads(threads)
    return threads
