"""Fine-tune page under AppTest: a job started from the page outlives the session; Stop on the page stops it."""

import time

from workbench.finetune import jobs
from workbench.models import adapters


def test_job_started_on_page_survives_the_session_and_stops_from_the_page(workspace_home, open_page):
    at = open_page("finetune")
    assert any("format `prompt_response`" in m.value for m in at.markdown)
    at.number_input(key="ft_max_length").set_value(48)
    at.number_input(key="ft_steps").set_value(60)
    at.number_input(key="ft_batch").set_value(2)
    at.number_input(key="ft_save_every").set_value(2)
    at.text_input(key="ft_name").input("page-run")
    at.button(key="FormSubmitter:ft_form-Start fine-tune").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["ft_job"]
    del at  # the browser session ends; the job is its own process

    deadline = time.time() + 120
    while jobs.job(job_id)["step"] < 1 and time.time() < deadline:
        time.sleep(0.3)
    assert jobs.job(job_id)["status"] == "running"

    at = open_page("finetune")
    at.session_state["ft_job"] = job_id
    at.run()
    at.button(key="ft_stop").click().run()
    row = jobs.wait(job_id, timeout_s=60)
    assert row["status"] == "stopped"
    at.run()
    assert any(b.label == "Resume" for b in at.button)
    assert adapters.adapter_rows() == []  # a stopped run registers nothing


def _placeholder_adapter(folder, base="smollm2-135m-instruct"):
    """An adapter folder as the registry sees it (the Adapters tab reads files, it applies nothing)."""
    import json

    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": base}))
    (folder / "adapter_model.safetensors").write_text("weights")
    return folder


def _table_names(at) -> list[str]:
    return list(next(d for d in at.dataframe if "base model" in d.value.columns).value["name"])


def test_load_from_folder_shows_the_copy_at_once_and_delete_confirms_then_trashes_that_one(workspace_home,
                                                                                           open_page, tmp_path):
    adapters.import_adapter(_placeholder_adapter(tmp_path / "trained"), "trained")
    at = open_page("finetune")
    assert _table_names(at) == ["trained"]
    at.text_input(key="ft_import_path").input(str(_placeholder_adapter(tmp_path / "copy-src")))
    at.text_input(key="ft_import_name").input("copy")
    at.button(key="ft_import").click().run()
    assert not at.exception, at.exception
    assert sorted(_table_names(at)) == ["copy", "trained"]  # no reload needed
    assert at.selectbox(key="ft_adapter_pick").value == "copy"
    assert any("Registered copy" in s.value for s in at.success)

    at.button(key="ft_delete").click().run()
    assert [a.name for a in adapters.list_adapters()] == ["copy", "trained"]  # one click deletes nothing
    [question] = [w.value for w in at.warning if "Delete adapter" in w.value]
    assert "**copy**" in question and "trained" not in question
    at.button(key="ft_adapter_yes").click().run()
    assert not at.exception, at.exception
    assert [a.name for a in adapters.list_adapters()] == ["trained"]
    assert _table_names(at) == ["trained"] and at.selectbox(key="ft_adapter_pick").value == "trained"
    assert any("Moved adapter copy to the trash" in s.value for s in at.success)

    at.button(key="ft_adapter_undo").click().run()
    assert sorted(a.name for a in adapters.list_adapters()) == ["copy", "trained"]
    assert any("Restored adapter copy" in s.value for s in at.success)


def test_trash_section_restores_and_broken_adapter_can_still_be_deleted(workspace_home, open_page, tmp_path):
    adapters.import_adapter(_placeholder_adapter(tmp_path / "gone"), "gone")
    adapters.delete("gone")
    broken = adapters.import_adapter(_placeholder_adapter(tmp_path / "bad"), "bad")
    (broken.path / adapters.METADATA_FILE).write_text("null")
    at = open_page("finetune")
    assert not at.exception, at.exception
    assert any("not a JSON object" in w.value for w in at.warning)
    at.selectbox(key="ft_trash_pick").select_index(0).run()
    at.button(key="ft_trash_restore").click().run()
    assert not at.exception, at.exception
    assert "gone" in _table_names(at)

    at.selectbox(key="ft_adapter_pick").select("bad").run()
    at.button(key="ft_delete").click().run()
    at.button(key="ft_adapter_yes").click().run()
    assert sorted(_table_names(at)) == ["gone"]


def test_finished_job_delete_confirms_then_moves_it_to_trash_and_undo_restores(workspace_home, open_page):
    from workbench import trash
    from workbench.finetune.records import insert_job

    for job_id, adapter in (("job-old", "first"), ("job-new", "second")):
        insert_job({"id": job_id, "adapter": adapter, "task": "causal", "base_model": "smollm2-135m-instruct",
                    "data_path": "d.jsonl", "config": {}, "status": "done", "max_steps": 3})
        jobs.run_paths(job_id).root.mkdir(parents=True)
    at = open_page("finetune")
    at.selectbox(key="ft_pick").select("job-old").run()
    at.button(key="ft_job_delete").click().run()
    assert not at.exception, at.exception
    [question] = [w.value for w in at.warning if w.value.startswith("Delete job")]
    assert "**job-old**" in question and "job-new" not in question
    assert {r["id"] for r in jobs.list_jobs()} == {"job-old", "job-new"}

    at.button(key="ft_job_yes").click().run()
    assert not at.exception, at.exception
    assert [r["id"] for r in jobs.list_jobs()] == ["job-new"] and not jobs.run_paths("job-old").root.exists()
    assert at.selectbox(key="ft_pick").value == "job-new"
    assert [i.label for i in trash.list_items()] == ["job job-old (first)"]

    at.button(key="ft_job_undo").click().run()
    assert {r["id"] for r in jobs.list_jobs()} == {"job-old", "job-new"} and jobs.run_paths("job-old").root.exists()
