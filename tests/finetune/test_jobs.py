"""Background jobs as real processes: kill mid-run, resume from the last checkpoint, stop, continue; and the
same entry point under `accelerate launch` with two CPU processes (gloo)."""

import json
import os
import signal
import subprocess
import time

from workbench.finetune import checkpoints, jobs
from workbench.finetune.config import LoraRunConfig
from workbench.models import adapters

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def tiny_config(tmp_path, **overrides) -> LoraRunConfig:
    lines = (ROOT / "data" / "demo_dates_train.jsonl").read_text().splitlines()[:24]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    settings = dict(data=str(path), adapter_name="tiny", max_steps=6, batch_size=2, max_length=48, save_every=2,
                    warmup_steps=0, validation_fraction=0.1, eval_every=3, cpu_threads=1)
    return LoraRunConfig(**{**settings, **overrides})


def wait_for(predicate, timeout_s=120, what="condition"):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def train_steps(job_id):
    return [m["step"] for m in jobs.metrics(job_id) if m["kind"] == "train"]


def test_killed_job_resumes_from_last_checkpoint_then_stops_and_continues(tmp_path, workspace_home):
    job_id = jobs.submit(tiny_config(tmp_path))
    paths = jobs.run_paths(job_id)
    wait_for(lambda: checkpoints.latest_checkpoint(paths.checkpoints), what="first checkpoint")
    os.killpg(jobs.job(job_id)["pid"], signal.SIGKILL)  # the whole process session, like a crash
    row = wait_for(lambda: (r := jobs.job(job_id))["status"] == "failed" and r, what="failed status")
    assert "resume continues from the checkpoint at step-" in row["message"]
    assert adapters.list_adapters() == []  # nothing half-written became visible
    resumed_from = checkpoints.latest_checkpoint(paths.checkpoints)
    start_step = json.loads((resumed_from / "state.json").read_text())["step"]
    steps_before = train_steps(job_id)

    jobs.resume(job_id)
    row = jobs.wait(job_id, timeout_s=180)
    assert row["status"] == "done", row["message"] + jobs.log_tail(job_id)
    after = train_steps(job_id)[len(steps_before):]
    assert after[0] == start_step + 1 and after[-1] == 6  # continued where the checkpoint left off
    assert [a.name for a in adapters.list_adapters()] == ["tiny"]
    assert adapters.read_adapter(adapters.adapters_dir() / "tiny").metadata["metrics"]["steps"] == 6

    jobs.continue_run(job_id, 40)  # long enough to stop it part-way
    wait_for(lambda: train_steps(job_id)[-1] > 6, what="continued steps")
    jobs.stop(job_id)
    row = jobs.wait(job_id, timeout_s=120)
    assert row["status"] == "stopped" and "resume continues from here" in row["message"]
    stopped_at = checkpoints.latest_checkpoint(paths.checkpoints)
    assert 6 < int(stopped_at.name.split("-")[1]) < 46
    assert [a.name for a in adapters.list_adapters()] == ["tiny"]  # a stopped run registers nothing


def test_training_entry_point_runs_under_accelerate_with_two_cpu_processes(tmp_path, workspace_home):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(tiny_config(tmp_path, max_steps=2, adapter_name="", eval_every=2,
                                                 num_processes=2).to_json())
    env = dict(os.environ, WORKBENCH_HOME=str(workspace_home), OMP_NUM_THREADS="1")
    proc = subprocess.run(jobs.launch_command(run, 2), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 process(es)" in proc.stdout
    info = adapters.read_adapter(run / "adapter")
    assert info.metadata["metrics"]["steps"] == 2
    # both processes trained: the tokens of each step come from 2 x batch_size rows
    first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert first["step"] == 1 and first["max_steps"] == 2
