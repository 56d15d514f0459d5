"""Benchmarks: each module times a baseline and ours in the same run and prints the ratio."""

import os

IDLE_LOAD = 0.5  # 1-minute load average at or above which a run's figures say nothing about the code


def load_at_start() -> tuple[float, bool]:
    """Print the 1-minute load average and whether the run counts; returns (load average, valid)."""
    load_average = os.getloadavg()[0]
    valid = load_average < IDLE_LOAD
    print(f"load average at start: {load_average:.2f}"
          + ("" if valid else f" -- {IDLE_LOAD} OR MORE: this run is INVALID, its figures say nothing about the code"),
          flush=True)
    return load_average, valid
