"""What the Fine-tune page's Jobs and Adapters panels show and offer, decided from store and registry rows without
widgets: the tables, one job's figures and message, the controls a job's status allows, which item a picker keeps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from workbench.models.adapters import BASE_CHOICE

ACTIVE = ("running", "queued")  # a job with a process (or about to have one): it can be stopped, not deleted
RESUMABLE = ("stopped", "failed")
NONE = "–"  # a figure not measured yet


@dataclass(frozen=True)
class JobFigures:
    """The progress bar and the figures over a job's curve, as the page writes them."""

    progress: float  # 0..1
    progress_text: str
    metrics: dict[str, str]  # label -> value: train loss, validation loss, tokens/s, ETA


@dataclass(frozen=True)
class JobControls:
    """The buttons a job offers for its status."""

    stop: bool  # Stop (a running or queued job not asked to stop yet)
    stopping: bool  # asked to stop: a notice instead of the button
    resume: bool
    continue_more: bool  # "More steps" and "Continue for more steps"
    next_steps: bool  # Evaluate / Compare / Bias for its registered adapter
    delete: bool


def job_table(rows: list[dict]) -> pd.DataFrame:
    """The Jobs table: one line a job, progress as step/max."""
    return pd.DataFrame([{"job": r["id"], "adapter": r["adapter"], "status": r["status"],
                          "progress": f"{r['step']}/{r['max_steps']}", "model": r["base_model"],
                          "data": Path(r["data_path"]).name, "message": r["message"]} for r in rows])


def job_figures(row: dict, metrics: list[dict]) -> JobFigures:
    """Progress and the latest train loss, validation loss, speed and ETA (ETA only while it runs)."""
    train = [m for m in metrics if m["kind"] == "train"]
    evals = [m for m in metrics if m["kind"] == "eval"]
    last = train[-1] if train else {}
    return JobFigures(
        progress=min(row["step"] / max(row["max_steps"], 1), 1.0),
        progress_text=f"{row['status']}: step {row['step']} of {row['max_steps']}",
        metrics={"Train loss": f"{last['loss']:.4f}" if last else NONE,
                 "Validation loss": f"{evals[-1]['val_loss']:.4f}" if evals else NONE,
                 "Tokens/s": f"{last['tokens_per_s']:.0f}" if last else NONE,
                 "ETA": f"{last['eta_s']:.0f} s" if last and row["status"] == "running" else NONE})


def job_notice(row: dict) -> tuple[str, str] | None:
    """("error" | "info", text) under the figures: why a job failed, or its last message; None when it has none."""
    if row["status"] == "failed":
        return "error", f"Failed: {row['message']}"
    return ("info", row["message"]) if row["message"] else None


def job_controls(row: dict, *, stop_requested: bool, registered: set[str]) -> JobControls:
    """What a job offers: Stop while it runs, Resume once stopped or failed, more steps and the pages that judge
    its adapter once done (the adapter still registered), Delete when no process works on it."""
    status = row["status"]
    return JobControls(stop=status in ACTIVE and not stop_requested, stopping=status in ACTIVE and stop_requested,
                       resume=status in RESUMABLE, continue_more=status == "done",
                       next_steps=status == "done" and row["adapter"] in registered, delete=status not in ACTIVE)


def next_steps(adapter: str) -> list[tuple[str, str, dict, str, str]]:
    """The pages that judge a finished job's adapter, opened with it preselected: (page file, button label, the
    target page's widget values, button key, help)."""
    return [("evaluate.py", f"Evaluate {adapter}", {"ev_models": [BASE_CHOICE, adapter]}, "ft_to_eval",
             "Base and this adapter on an evaluation set"),
            ("compare.py", "Compare with the base", {"cmp_adapter": adapter}, "ft_to_cmp",
             "The same prompt through base and adapter, side by side; the attention diff"),
            ("bias.py", "Bias before/after", {"bias_adapter": adapter}, "ft_to_bias",
             "The bias probes on this adapter, and the change from the base")]


def job_delete_question(job_id: str, adapter: str) -> str:
    return f"job **{job_id}** (adapter {adapter}) with its run folder, metrics, log and checkpoints"


def picked_job(ids: list[str], picked: str | None, wanted: str | None) -> str:
    """The job the picker shows: the kept pick while it exists, else the job just started (or the first)."""
    if picked in ids:
        return picked
    return wanted if wanted in ids else ids[0]


def picked_adapter(names: list[str], picked: str | None, wanted: str | None) -> str:
    """The adapter the picker shows: one an action just made (imported, renamed, restored), else the kept pick
    while it exists, else the first."""
    if wanted in names:
        return wanted
    return picked if picked in names else names[0]


def adapter_problem(row: dict) -> str | None:
    """Why a registered adapter cannot be used, with what to do; None when it is fine."""
    if row["status"] == "ok":
        return None
    return (f"{row['name']} cannot be used: {row['status'].removeprefix('broken: ')}. Delete it, or fix the folder "
            f"{row['path']}.")


def activate_refusal(row: dict, model: str) -> str | None:
    """The tooltip of a disabled "Make active" (the adapter is broken or made for another base); None: allowed."""
    if row["base model"] == model and row["status"] == "ok":
        return None
    return f"trained on {row['base model']}, not the picked model"
