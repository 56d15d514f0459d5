"""Resume points: adapter weights, optimizer, scheduler, data position and RNG state, written atomically."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

COMPLETE = "COMPLETE"  # written last; a folder without it is never listed
KEEP = 2  # checkpoints kept per run


@dataclass
class TrainState:
    """Where training stands; enough to continue exactly where a checkpoint was written."""

    step: int = 0             # optimizer steps done
    epoch: int = 0            # current pass over the training split
    batch_in_epoch: int = 0   # global batches of `epoch` already consumed
    tokens: int = 0           # non-padding tokens trained on, all processes
    seconds: float = 0.0      # training time so far, across resumes
    best_val_loss: float | None = None
    evals_without_improvement: int = 0
    max_steps: int = 0        # total planned optimizer steps (grows when a finished run is continued)
    precision: str = ""       # fp32 | bf16 the run trains in, so a resume elsewhere replays it; "": not recorded


def list_checkpoints(folder: Path) -> list[Path]:
    """Fully written checkpoints, oldest first."""
    if not folder.is_dir():
        return []
    done = [p for p in folder.glob("step-*") if (p / COMPLETE).exists()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


def _rng_state() -> dict:
    """Plain tensors, tuples and numbers only, so a checkpoint loads with `weights_only=True` (no unpickling)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def save_checkpoint(folder: Path, peft_model, optimizer, scheduler, state: TrainState) -> Path:
    """Write into a hidden folder, mark it complete, then rename: a kill at any moment leaves no half checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"step-{state.step:06d}"
    tmp = folder / f".tmp-step-{state.step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    peft_model.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(_rng_state(), tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps(asdict(state), indent=2))
    (tmp / COMPLETE).write_text("")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    for old in list_checkpoints(folder)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(path: Path, peft_model, optimizer, scheduler) -> TrainState:
    """Restore weights, optimizer, scheduler and RNG; return the data position to continue from."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(peft_model, load_file(path / "adapter_model.safetensors"))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    # The schedule may have a new horizon (a continued run): put the lr where the new schedule says.
    for group, base, fn in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base * fn(scheduler.last_epoch)
    _set_rng_state(torch.load(path / "rng.pt", weights_only=True))
    return read_state(path)


def read_state(path: Path) -> TrainState:
    """The data position and counters a checkpoint was written at."""
    return TrainState(**json.loads((path / "state.json").read_text()))
