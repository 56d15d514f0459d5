"""The workspace trash: deleted adapters, jobs and history records wait there, restore puts them back, empty
removes them; crash debris is cleaned at startup."""

import json
import os
import time

import pytest

from workbench import trash
from workbench.finetune import jobs
from workbench.finetune.records import get_job, insert_job
from workbench.models import adapters
from workbench.prompt_lab import history
from workbench.store import Store

ADAPTER_FILES = {"adapter_config.json": json.dumps({"peft_type": "LORA", "base_model_name_or_path": "m"}),
                 "adapter_model.safetensors": "weights"}  # read_adapter checks files, not tensors


def _adapter(name: str, files: dict = ADAPTER_FILES):
    staging = adapters.staging_dir(name)
    for file, text in files.items():
        (staging / file).write_text(text)
    return adapters.register(staging, name, {"base_model": "m"})


def _history_row() -> int:
    values = {"created": time.time(), "kind": "generate", "model": "m", "adapters": "[null]", "prompt": "Hi",
              "spec": "{}", "seed": 0, "environment": "{}", "outputs": "[]", "prompt_tokens": 1, "new_tokens": 1,
              "seconds": 0.1}
    with Store().connect() as conn:
        cur = conn.execute(f"INSERT INTO experiments ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                           tuple(values.values()))
        return cur.lastrowid


def test_deleted_adapter_waits_in_trash_with_manifest_and_restores(workspace_home):
    info = _adapter("keep-me")
    item = adapters.delete("keep-me")
    assert adapters.list_adapters() == []
    manifest = json.loads((trash.trash_dir() / item.id / trash.MANIFEST).read_text())
    assert manifest["kind"] == "adapter" and manifest["name"] == "keep-me"
    assert manifest["origin"] == str(info.path) and time.time() - manifest["deleted"] < 60
    assert [i.label for i in trash.list_items()] == ["adapter keep-me"]

    trash.restore(item.id)
    assert [a.name for a in adapters.list_adapters()] == ["keep-me"]
    assert (info.path / "adapter_model.safetensors").read_text() == "weights"
    assert trash.list_items() == []


def test_restore_refuses_when_the_name_is_taken_again(workspace_home):
    _adapter("twin")
    item = adapters.delete("twin")
    _adapter("twin")
    with pytest.raises(trash.TrashError, match="exists again"):
        trash.restore(item)
    assert [i.id for i in trash.list_items()] == [item.id]  # still there, nothing overwritten


def test_history_record_goes_to_trash_and_comes_back_with_its_id(workspace_home):
    run_id = _history_row()
    item = history.delete_run(run_id)
    with pytest.raises(history.UnknownRun):
        history.get_run(run_id)
    assert item.label == f"history run {run_id}" and item.origin == ""
    trash.restore(item)
    assert history.get_run(run_id).prompt == "Hi"
    with pytest.raises(history.UnknownRun):
        history.delete_run(run_id + 1)


def test_job_goes_to_trash_with_its_run_folder_and_comes_back(workspace_home):
    insert_job({"id": "job-1", "adapter": "a", "task": "causal", "base_model": "m", "data_path": "d.jsonl",
                "config": {"rank": 4}, "status": "done", "max_steps": 3})
    run = jobs.run_paths("job-1").root
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    item = jobs.delete("job-1")
    assert get_job("job-1") is None and not run.exists()
    trash.restore(item)
    row = get_job("job-1")
    assert row["config"] == {"rank": 4} and row["status"] == "done"
    assert (run / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_running_job_cannot_be_deleted(workspace_home):
    insert_job({"id": "job-2", "adapter": "a", "task": "causal", "base_model": "m", "data_path": "d.jsonl",
                "config": {}, "status": "queued", "max_steps": 3})
    with pytest.raises(jobs.JobError, match="stop it before deleting"):
        jobs.delete("job-2")
    assert get_job("job-2") is not None


def test_empty_removes_old_items_and_everything_on_request(workspace_home):
    _adapter("old")
    _adapter("new")
    old = adapters.delete("old")
    adapters.delete("new")
    manifest = trash.trash_dir() / old.id / trash.MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "deleted": time.time() - 31 * 86400}))
    assert [i.name for i in trash.empty()] == ["old"]
    assert [i.name for i in trash.list_items()] == ["new"]
    assert [i.name for i in trash.empty(older_than_days=0)] == ["new"]
    assert trash.list_items() == []


def test_unreadable_manifest_is_listed_and_can_only_be_emptied(workspace_home):
    (trash.trash_dir() / "mystery").mkdir()
    (trash.trash_dir() / "mystery" / trash.MANIFEST).write_bytes(b"\xff\xfe")
    [item] = trash.list_items()
    assert item.kind == "unknown"
    with pytest.raises(trash.TrashError, match="can only be emptied"):
        trash.restore(item)
    assert len(trash.empty(0)) == 1


def test_leftover_staging_deleting_and_temp_checkpoint_folders_older_than_an_hour_are_cleaned(workspace_home):
    old_staging = adapters.adapters_dir() / ".staging-x-1"
    fresh_staging = adapters.adapters_dir() / ".staging-y-2"
    old_deleting = adapters.adapters_dir() / ".deleting-z-3"
    old_tmp = jobs.run_paths("job-3").checkpoints / ".tmp-step-000004"
    kept_checkpoint = jobs.run_paths("job-3").checkpoints / "step-000002"
    for folder in (old_staging, fresh_staging, old_deleting, old_tmp, kept_checkpoint):
        folder.mkdir(parents=True)
    hours_ago = time.time() - 2 * 3600
    for folder in (old_staging, old_deleting, old_tmp, kept_checkpoint):
        os.utime(folder, (hours_ago, hours_ago))
    removed, _ = trash.startup_cleanup()
    assert sorted(removed) == sorted([old_staging, old_deleting, old_tmp])
    assert fresh_staging.exists() and kept_checkpoint.exists()


def test_restore_never_writes_outside_the_workspace(workspace_home, tmp_path):
    _adapter("moved")
    item = adapters.delete("moved")
    manifest = trash.trash_dir() / item.id / trash.MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "origin": str(tmp_path / "elsewhere")}))
    with pytest.raises(trash.TrashError, match="outside the workspace"):
        trash.restore(item.id)
    assert not (tmp_path / "elsewhere").exists()
