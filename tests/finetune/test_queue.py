"""The job queue holds (issue 17): one conditional claim per start, the next job starts after any end, a job is
alive only while its recorded process is, every child writes to the app's one workspace, a step is never listed
twice after a resume. Each test failed before its fix."""

import os
import signal
import subprocess
import threading
import time

import pytest

from workbench import workspace
from workbench.errors import WorkbenchError
from workbench.finetune import jobs, records
from workbench.finetune.records import JobRowMissing, RunPaths, append_metrics, read_metrics, update_job
from workbench.models import adapters

from .test_jobs import tiny_config


def _row(job_id: str, status: str, **extra) -> None:
    records.insert_job({"id": job_id, "adapter": f"a-{job_id}", "task": "causal", "base_model": "m",
                        "data_path": "d", "config": {}, "status": status, "max_steps": 1, **extra})


def test_racing_starters_claim_one_queued_job_exactly_once(workspace_home):
    _row("q1", "queued")
    won, start = [], threading.Barrier(8)

    def claim():
        start.wait()
        won.append(records.claim_next_queued())

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won.count("q1") == 1 and won.count(None) == 7
    assert records.get_job("q1")["status"] == "running"
    _row("q2", "queued")
    assert records.claim_next_queued() is None  # one job at a time: q1 runs


def test_a_running_row_whose_pid_is_now_another_process_becomes_failed(workspace_home):
    me = os.getpid()
    _row("stale", "running", pid=me, pid_start="another-boot:123", started=time.time() - 3600)
    _row("real", "running", pid=me, pid_start=records.process_identity(me), started=time.time())
    by_id = {r["id"]: r for r in jobs.refresh(start_next=False)}
    assert by_id["stale"]["status"] == "failed" and "ended without finishing" in by_id["stale"]["message"]
    assert by_id["real"]["status"] == "running"  # this process really is the recorded one
    with pytest.raises(jobs.JobError, match="not running"):
        jobs.stop("stale")  # Stop on a job that is not really running says so; it never hangs


def test_a_live_process_that_stopped_beating_is_killed_and_its_job_fails(workspace_home):
    frozen = subprocess.Popen(["sleep", "300"])  # stands for a SIGSTOPped or hung training process
    try:
        _row("frozen", "running", pid=frozen.pid, pid_start=records.process_identity(frozen.pid),
             started=time.time() - 3600, heartbeat=time.time() - records.HEARTBEAT_STALE_S - 5)
        _row("beating", "running", pid=os.getpid(), pid_start=records.process_identity(os.getpid()),
             started=time.time() - 3600, heartbeat=time.time() - 1)
        by_id = {r["id"]: r for r in jobs.refresh(start_next=False)}
        assert by_id["frozen"]["status"] == "failed" and "no heartbeat" in by_id["frozen"]["message"]
        assert frozen.wait(timeout=10) == -signal.SIGKILL  # it cannot wake up later and write into a resumed run
        assert by_id["beating"]["status"] == "running"
    finally:
        frozen.kill()


def test_the_heartbeat_thread_stamps_the_row_and_ends_when_the_row_is_gone(workspace_home):
    from workbench.finetune import train

    _row("beat", "running")
    thread = train.start_heartbeat("beat", every_s=0.05)
    deadline = time.time() + 10
    while records.get_job("beat")["heartbeat"] is None and time.time() < deadline:
        time.sleep(0.05)
    assert time.time() - records.get_job("beat")["heartbeat"] < 5
    with records.Store().connect() as conn:
        conn.execute("DELETE FROM jobs WHERE id = 'beat'")
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_claimed_job_is_alive_while_its_launcher_starts_then_not(workspace_home):
    assert records.job_alive({"pid": None, "started": time.time()})
    assert not records.job_alive({"pid": None, "started": time.time() - records.STARTING_GRACE_S - 1})


def test_after_a_crashed_job_the_next_queued_one_starts_and_finishes(tmp_path, workspace_home):
    _row("crashed", "running", pid=2**22 + 7, pid_start="gone:1", started=time.time() - 60)  # no such process
    config = tiny_config(tmp_path, adapter_name="after-crash", max_steps=2, save_every=100,
                         validation_fraction=0.0)
    queued = "z-" + time.strftime("%H%M%S")
    paths = jobs.run_paths(queued)
    paths.root.mkdir(parents=True)
    paths.config.write_text(config.to_json())
    _row(queued, "queued", adapter="after-crash")
    rows = {r["id"]: r for r in jobs.refresh()}  # a page's poll: marks the crash failed and starts the next
    assert rows["crashed"]["status"] == "failed"
    assert rows[queued]["status"] == "running"
    done = jobs.wait(queued, timeout_s=300)
    assert done["status"] == "done", jobs.log_tail(queued)


def test_a_relative_workspace_is_made_absolute_so_the_job_registers_where_the_app_looks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_HOME", "relative-home")
    assert workspace.home() == tmp_path / "relative-home"  # the job process gets this, and another cwd
    job_id = jobs.submit(tiny_config(tmp_path, adapter_name="rel-home", max_steps=2, save_every=100,
                                     validation_fraction=0.0))
    assert jobs.wait(job_id, timeout_s=300)["status"] == "done", jobs.log_tail(job_id)
    assert [a.name for a in adapters.list_adapters()] == ["rel-home"]
    assert adapters.adapters_dir().is_relative_to(tmp_path / "relative-home")


def test_an_update_that_touches_no_row_is_an_error(workspace_home):
    with pytest.raises(JobRowMissing, match="no row in"):
        update_job("no-such-job", status="done")


def test_steps_logged_again_after_a_resume_are_listed_once(tmp_path):
    paths = RunPaths(tmp_path)
    for step, loss in [(1, 3.0), (2, 2.5), (3, 2.4), (2, 2.6), (3, 2.3), (4, 2.2)]:  # resumed from step 1
        append_metrics(paths, {"kind": "train", "step": step, "loss": loss})
    append_metrics(paths, {"kind": "val", "step": 2, "loss": 2.9})
    rows = read_metrics(paths)
    assert [(r["kind"], r["step"]) for r in rows] == [("train", 1), ("train", 2), ("val", 2), ("train", 3),
                                                      ("train", 4)]
    assert [r["loss"] for r in rows if r["kind"] == "train"] == [3.0, 2.6, 2.3, 2.2]  # the later record wins


def test_data_is_frozen_at_submit_and_a_changed_copy_refuses_to_resume(tmp_path, workspace_home):
    config = tiny_config(tmp_path, adapter_name="frozen", max_steps=2, save_every=1, validation_fraction=0.0)
    original = config.data
    job_id = jobs.submit(config)
    jobs.stop(job_id)
    row = jobs.wait(job_id, timeout_s=300)
    assert row["data_path"] == original
    frozen = jobs.run_paths(job_id).root / "train-data.jsonl"
    assert frozen.read_bytes() == open(original, "rb").read()
    open(original, "a").write('{"prompt": "changed", "response": "after submit"}\n')  # the upload changes
    if row["status"] != "done":  # stopped before the end: the original's change does not matter
        assert jobs.resume(job_id)["status"] in ("queued", "running")
        jobs.wait(job_id, timeout_s=300)
    frozen.write_text(frozen.read_text() + '{"prompt": "x", "response": "y"}\n')  # the run's own copy changes
    jobs.update_job(job_id, status="stopped")
    with pytest.raises(jobs.JobError, match="changed since it was submitted"):
        jobs.resume(job_id)


def test_a_four_row_file_trains_with_the_batch_shrunk_and_says_so(tmp_path, workspace_home):
    config = tiny_config(tmp_path, adapter_name="four-rows", max_steps=2, batch_size=4, save_every=100)
    lines = open(config.data).read().splitlines()[:4]
    open(config.data, "w").write("\n".join(lines) + "\n")
    job_id = jobs.submit(config)
    row = jobs.wait(job_id, timeout_s=300)
    assert row["status"] == "done", jobs.log_tail(job_id)
    assert "fewer than one batch; the batch size is 3 per process" in jobs.log_tail(job_id)


def test_the_training_process_loads_under_the_app_s_rules(tmp_path, workspace_home):
    """A model folder with only pickle weights is refused by the job as the app refuses it."""
    import shutil

    from workbench.models import locate
    from workbench.models.loading import ModelSpec

    folder = tmp_path / "pickle-only"
    shutil.copytree(locate(ModelSpec("smollm2-135m-instruct")), folder)
    for weights in folder.glob("*.safetensors"):
        weights.rename(weights.with_suffix(".bin"))
    job_id = jobs.submit(tiny_config(tmp_path, adapter_name="pickled", model=str(folder), max_steps=1))
    row = jobs.wait(job_id, timeout_s=300)
    assert row["status"] == "failed" and "pickle" in row["message"].lower(), (row["message"], jobs.log_tail(job_id))
    assert adapters.list_adapters() == []


def test_names_are_checked_at_submit_with_one_rule_and_its_reason(tmp_path, workspace_home):
    for bad, reason in [("café-lora", "ASCII letters"), ("x" * 129, "at most 128"), ("../up", "not a safe name")]:
        with pytest.raises(WorkbenchError, match=reason):
            jobs.submit(tiny_config(tmp_path, adapter_name=bad))
    assert jobs.list_jobs() == []  # nothing queued, nothing half-written
