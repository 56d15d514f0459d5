"""Background fine-tuning jobs: each runs `workbench.finetune.train` in its own process session, so it outlives
page reloads and app restarts; the app sees it only through its store row and its run folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import torch

from workbench import trash, workspace
from workbench.errors import WorkbenchError
from workbench.finetune import checkpoints
from workbench.finetune.config import LoraRunConfig
from workbench.finetune.data import file_sha256
from workbench.finetune.records import (
    RunPaths,
    claim_next_queued,
    get_job,
    heartbeat_stale,
    insert_job,
    job_alive,
    list_job_rows,
    process_identity,
    process_matches,
    read_metrics,
    runs_dir,
    update_job,
)
from workbench.models import adapters

TRAIN_SCRIPT = Path(__file__).resolve().parent / "train.py"


class JobError(WorkbenchError):
    """A job cannot be started, stopped, resumed or continued as asked."""


def run_paths(job_id: str) -> RunPaths:
    return RunPaths(workspace.safe_child(runs_dir(), job_id, field="job"))


def gpu_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def qlora_unavailable_reason() -> str | None:
    """Why QLoRA cannot be offered here, or None when it can."""
    if not torch.cuda.is_available():
        return "QLoRA (4-bit) needs a CUDA GPU; none is visible"
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return "QLoRA (4-bit) needs the bitsandbytes package (pip install bitsandbytes)"
    return None


def launch_command(run_dir: Path, num_processes: int) -> list[str]:
    """The training command: plain Python for one process, `accelerate launch` for several (one per GPU)."""
    if num_processes <= 1:
        return [sys.executable, "-m", "workbench.finetune.train", str(run_dir)]
    # --multi_gpu selects accelerate's torchrun launcher; without CUDA the processes join over gloo on CPU.
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
            str(num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            str(TRAIN_SCRIPT), str(run_dir)]


def submit(config: LoraRunConfig) -> str:
    """Create a job (queued) for this config and start it unless another job is running."""
    if not config.adapter_name:
        raise JobError("give the adapter a name", field="adapter_name")
    if workspace.safe_child(adapters.adapters_dir(), config.adapter_name, field="adapter_name").exists() or any(
            j["adapter"] == config.adapter_name and j["status"] in ("queued", "running", "stopped", "failed")
            for j in list_job_rows()):
        raise JobError(f"an adapter or job named {config.adapter_name!r} already exists; pick another name",
                       field="adapter_name")
    if config.quantize_4bit and qlora_unavailable_reason():
        raise JobError(qlora_unavailable_reason(), field="quantize_4bit")
    job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    paths = run_paths(job_id)
    paths.root.mkdir(parents=True)
    source = str(config.data)  # the row keeps where the data came from; the run reads its frozen copy
    _freeze_data(config, paths)
    paths.config.write_text(config.to_json())
    insert_job({"id": job_id, "adapter": config.adapter_name, "task": config.task, "base_model": config.model,
                "data_path": source, "config": vars(config), "status": "queued",
                "max_steps": config.max_steps})
    launch_next_queued()
    return job_id


def _freeze_data(config: LoraRunConfig, paths: RunPaths) -> None:
    """Copy the training data into the run folder and record its SHA-256: a later upload of the same name, an
    edit, or a rerun of the page can no longer change what a queued or resumed job reads."""
    source = Path(config.data).expanduser()
    if not source.is_file():
        raise JobError("the training data file does not exist", path=str(source), field="data")
    frozen = paths.root / f"train-data{source.suffix}"
    shutil.copyfile(source, frozen)
    paths.data_hash.write_text(file_sha256(frozen))
    config.data = str(frozen)


def _check_data(job_id: str) -> None:
    """Refuse to resume or continue a job whose frozen data changed since it was submitted."""
    paths = run_paths(job_id)
    if not paths.data_hash.exists():  # a job submitted before data was frozen
        return
    data = Path(LoraRunConfig.load(paths.config).data)
    now = file_sha256(data) if data.is_file() else "missing"
    if now != paths.data_hash.read_text().strip():
        raise JobError(f"the training data of job {job_id} changed since it was submitted (SHA-256 "
                       f"{paths.data_hash.read_text().strip()[:12]}, now {now[:12]}): resuming would train on other "
                       "data; submit a new job instead", path=str(data), field="data")


def _start_process(job_id: str) -> int:
    """Launch the training process of a job already claimed (marked running) by `claim_next_queued`."""
    paths = run_paths(job_id)
    config = LoraRunConfig.load(paths.config)
    paths.stop_request.unlink(missing_ok=True)
    env = dict(os.environ, WORKBENCH_JOB_ID=job_id, WORKBENCH_HOME=str(workspace.home()), PYTHONUNBUFFERED="1")
    log = open(paths.log, "a", encoding="utf-8")
    log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} launching: "
              f"{' '.join(launch_command(paths.root, config.num_processes))}\n")
    log.flush()
    proc = subprocess.Popen(launch_command(paths.root, config.num_processes), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=Path(__file__).resolve().parents[2],
                            start_new_session=True)  # its own session: survives the app and Ctrl-C
    log.close()
    update_job(job_id, pid=proc.pid, pid_start=process_identity(proc.pid), message="starting")
    return proc.pid


def _claim_and_start() -> str | None:
    """Start the oldest queued job if none runs; one caller wins a race (see `claim_next_queued`)."""
    job_id = claim_next_queued()
    if job_id is None:
        return None
    try:
        _start_process(job_id)
    except OSError as err:
        update_job(job_id, status="failed", message=f"could not start the training process: {err}",
                   finished=time.time())
        return _claim_and_start()
    return job_id


def launch_next_queued() -> str | None:
    """Start the oldest queued job if none is running (one training process at a time on this machine)."""
    refresh(start_next=False)
    return _claim_and_start()


def refresh(start_next: bool = True) -> list[dict]:
    """All jobs, newest first. A running job whose process is gone (or whose pid now belongs to another process)
    becomes failed, with the reason, and the next queued job starts."""
    rows = list_job_rows()
    ended = False
    for row in rows:
        if row["status"] == "running" and not job_alive(row):
            last = checkpoints.latest_checkpoint(run_paths(row["id"]).checkpoints)
            reason = (_end_frozen(row) or "the training process ended without finishing (killed or crashed); "
                      + (f"resume continues from the checkpoint at {last.name}" if last
                         else "no checkpoint was written yet, resume restarts it"))
            update_job(row["id"], status="failed", message=reason, pid=None, finished=time.time())
            row.update(status="failed", message=reason, pid=None)
            ended = True
    if ended and start_next and _claim_and_start() is not None:
        rows = list_job_rows()
    return rows


def _end_frozen(row: dict) -> str | None:
    """Kill a job's process that is still there but has stopped beating (it would wake up later and write into a
    run that was resumed meanwhile); the reason, or None when the process is simply gone."""
    if row.get("pid") is None or not (process_matches(row) and heartbeat_stale(row)):
        return None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(int(row["pid"]), signal.SIGKILL)
    return (f"the training process sent no heartbeat for {time.time() - row['heartbeat']:.0f} s (frozen), so it "
            "was killed; resume continues from the last checkpoint")


def list_jobs() -> list[dict]:
    return refresh()


def job(job_id: str) -> dict:
    refresh()
    row = get_job(job_id)
    if row is None:
        raise JobError(f"no job {job_id!r}", field="job")
    return row


def stop(job_id: str) -> dict:
    """Ask a job to stop: it writes a checkpoint and ends as `stopped`; a queued job stops at once."""
    row = job(job_id)
    if row["status"] == "queued":
        update_job(job_id, status="stopped", message="stopped before it started", finished=time.time())
    elif row["status"] == "running":
        run_paths(job_id).stop_request.write_text(str(time.time()))
    else:
        raise JobError(f"job {job_id} is {row['status']}, not running", field="job")
    return job(job_id)


def wait(job_id: str, timeout_s: float = 600, statuses: tuple[str, ...] = ("done", "failed", "stopped")) -> dict:
    """Poll until the job reaches one of `statuses` (for the CLI and tests)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        row = job(job_id)
        if row["status"] in statuses:
            return row
        time.sleep(0.5)
    raise JobError(f"job {job_id} still {row['status']} after {timeout_s:.0f} s", field="job")


def resume(job_id: str) -> dict:
    """Restart a stopped or failed job from its last fully written checkpoint (or from the start)."""
    row = job(job_id)
    if row["status"] not in ("stopped", "failed"):
        raise JobError(f"only a stopped or failed job can be resumed; {job_id} is {row['status']}", field="job")
    _check_data(job_id)
    update_job(job_id, status="queued", message="waiting to resume", finished=None)
    launch_next_queued()
    return job(job_id)


def continue_run(job_id: str, more_steps: int, adapter_name: str | None = None) -> dict:
    """Train a finished job N more steps from its final checkpoint (same optimizer), as a new adapter."""
    row = job(job_id)
    if row["status"] != "done":
        raise JobError(f"only a finished job can be continued; {job_id} is {row['status']}", field="job")
    if more_steps < 1:
        raise JobError(f"`more_steps` must be at least 1, got {more_steps}", field="more_steps")
    _check_data(job_id)
    paths = run_paths(job_id)
    last = checkpoints.latest_checkpoint(paths.checkpoints)
    if last is None:
        raise JobError("this job has no checkpoint to continue from", field="job")
    done_steps = checkpoints.TrainState(**json.loads((last / "state.json").read_text())).step
    config = LoraRunConfig.load(paths.config)
    config.max_steps = done_steps + more_steps
    config.adapter_name = adapter_name or f"{row['adapter']}-step{config.max_steps}"
    if workspace.safe_child(adapters.adapters_dir(), config.adapter_name, field="adapter_name").exists():
        raise JobError(f"an adapter named {config.adapter_name!r} already exists", field="adapter_name")
    paths.config.write_text(config.to_json())
    update_job(job_id, status="queued", adapter=config.adapter_name, config=vars(config),
               max_steps=config.max_steps, message=f"continuing for {more_steps} more steps", finished=None)
    launch_next_queued()
    return job(job_id)


def metrics(job_id: str) -> list[dict]:
    return read_metrics(run_paths(job_id))


def log_tail(job_id: str, lines: int = 60) -> str:
    path = run_paths(job_id).log
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def delete(job_id: str) -> trash.TrashItem:
    """Move a finished, stopped or failed job (its run folder and its row) to the workspace trash."""
    row = job(job_id)
    if row["status"] in ("running", "queued"):
        raise JobError(f"job {job_id} is {row['status']}: stop it before deleting it", field="job")
    return trash.move_to_trash("job", f"{job_id} ({row['adapter']})", folder=run_paths(job_id).root, table="jobs",
                               key=job_id)
