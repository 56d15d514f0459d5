"""Time and memory of an attention capture, estimated before running it, with what the capture does about them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.attention.blocks import block_rows
from workbench.models import ModelInfo

# Calibrated on SmolLM2 at 2,048 tokens on one core of the 2-core CPU machines here (float32, sdpa forward).
CPU_FLOPS = 7e10                  # forward multiply-adds x 2 per second and thread (weights x tokens)
CPU_SECONDS_PER_ELEMENT = 9e-9    # one attention weight computed in a block and reduced, per thread
GPU_SPEEDUP = 50.0                # rough: an accelerator against one CPU thread
ACTIVATION_COPIES = 24            # forward temporaries, in hidden-state sizes (T x D float32): measured ~20


@dataclass(frozen=True)
class CaptureRequest:
    """What a capture is asked for (see `capture_attention`)."""

    kept_layers: int = 1          # layers whose full (H, T, T) float16 maps are kept
    every_layer: bool = False     # overviews, statistics or focus rows: every layer is read
    overview_size: int = 0        # overview blocks a side (0: none)


@dataclass(frozen=True)
class Estimate:
    """Peak extra memory and time of one capture, and what it will do."""

    bytes: int
    seconds: float
    kept_bytes: int               # of `bytes`: the full maps kept
    read_layers: int
    block_rows: int
    fits: bool                    # within the memory said to be available (True when unknown)
    plan: str                     # one or two sentences for a caption or the command line

    def to_dict(self) -> dict:
        return {"bytes": self.bytes, "seconds": round(self.seconds, 1), "kept_bytes": self.kept_bytes,
                "read_layers": self.read_layers, "block_rows": self.block_rows, "fits": self.fits, "plan": self.plan}


def _megabytes(n: int) -> str:
    return f"{n / 2 ** 30:.1f} GB" if n >= 2 ** 30 else f"{max(1, round(n / 2 ** 20))} MB"


def estimate(info: ModelInfo, tokens: int, request: CaptureRequest, *, threads: int | None = None,
             available: int | None = None) -> Estimate:
    """Estimate a capture of `tokens` tokens before running it: the sdpa forward through the read layers, each read
    layer's attention in query blocks (half the square for a causal model), and what is kept. `threads`: CPU
    threads (None: torch's setting); `available`: free bytes, if known."""
    t, h, layers = int(tokens), info.heads, info.layers
    read = layers if request.every_layer else min(layers, max(request.kept_layers, 1))
    rows = block_rows(h, t)
    kept = request.kept_layers * h * t * t * 2                                    # float16 maps
    workspace = h * min(rows, t) * t * 9                                          # two float32 buffers and a bool one
    forward = t * info.hidden_size * 4 * ACTIVATION_COPIES + (h + info.kv_heads) * t * info.head_dim * 4 * 2
    small = layers * h * request.overview_size ** 2 * 4
    total = kept + workspace + forward + small
    elements = read * h * t * (t + 1) / (2 if info.kind == "causal" else 1)
    per_thread = 2 * info.parameters * t * read / max(layers, 1) / CPU_FLOPS + elements * CPU_SECONDS_PER_ELEMENT
    threads = torch.get_num_threads() if threads is None else threads
    seconds = per_thread / (GPU_SPEEDUP if info.device.startswith("cuda") else max(threads, 1))
    fits = available is None or total < available
    took = f"{seconds:.0f} s" if seconds >= 1 else "a second"
    plan = (f"About {took} and {_megabytes(total)}: {read} layer{'s' * (read != 1)} read in blocks of "
            f"{min(rows, t)} query rows" + (f", full maps of {request.kept_layers} kept ({_megabytes(kept)})"
                                           if request.kept_layers else ", no full map kept") + ".")
    if not fits:
        plan += (f" That is more than the {_megabytes(available)} free: pick fewer layers or fewer tokens"
                 + (" (the grid and statistics need no full maps)" if request.kept_layers else "") + ".")
    return Estimate(int(total), float(seconds), int(kept), read, min(rows, t), fits, plan)


def available_memory() -> int | None:
    """Bytes of memory the system says are available (Linux /proc/meminfo), or None where it cannot tell."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
