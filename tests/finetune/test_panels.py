"""The Jobs and Adapters panels' decisions from real store and registry rows: the job table, figures and notice,
the buttons each status offers, which item a picker keeps; the trash list's rows."""

import json
import time

from workbench import trash
from workbench.finetune import panels
from workbench.models import adapters

DONE = {"id": "j1", "adapter": "dates-lora", "status": "done", "step": 60, "max_steps": 60,
        "base_model": "smollm2-135m-instruct", "data_path": "/data/demo_dates_train.jsonl", "message": ""}
METRICS = [{"kind": "train", "step": 1, "loss": 2.34567, "tokens_per_s": 812.4, "eta_s": 30.2},
           {"kind": "eval", "step": 1, "val_loss": 2.5},
           {"kind": "train", "step": 2, "loss": 1.23456, "tokens_per_s": 850.6, "eta_s": 12.7}]


def test_job_table_has_one_line_a_job_with_progress_and_file_name():
    table = panels.job_table([DONE, {**DONE, "id": "j2", "status": "running", "step": 3}])
    assert list(table.columns) == ["job", "adapter", "status", "progress", "model", "data", "message"]
    assert list(table["progress"]) == ["60/60", "3/60"] and table["data"][0] == "demo_dates_train.jsonl"


def test_figures_show_the_latest_train_and_validation_loss_and_eta_only_while_running():
    running = panels.job_figures({**DONE, "status": "running", "step": 2}, METRICS)
    assert running.progress == 2 / 60 and running.progress_text == "running: step 2 of 60"
    assert running.metrics == {"Train loss": "1.2346", "Validation loss": "2.5000", "Tokens/s": "851",
                               "ETA": "13 s"}
    assert panels.job_figures(DONE, METRICS).metrics["ETA"] == "–"
    assert set(panels.job_figures({**DONE, "max_steps": 0}, []).metrics.values()) == {"–"}
    assert panels.job_figures({**DONE, "max_steps": 0}, []).progress == 1.0


def test_notice_says_why_a_job_failed_or_its_last_message():
    assert panels.job_notice({**DONE, "status": "failed", "message": "out of memory"}) == (
        "error", "Failed: out of memory")
    assert panels.job_notice({**DONE, "message": "early stop at step 40"}) == ("info", "early stop at step 40")
    assert panels.job_notice(DONE) is None


def test_each_status_offers_its_own_buttons():
    def offers(status, **kwargs):
        c = panels.job_controls({**DONE, "status": status}, **{"stop_requested": False, "registered": set(),
                                                                 **kwargs})
        return {name for name, on in vars(c).items() if on}

    assert offers("running") == offers("queued") == {"stop"}
    assert offers("running", stop_requested=True) == {"stopping"}
    assert offers("stopped") == offers("failed") == {"resume", "delete"}
    assert offers("done") == {"continue_more", "delete"}
    assert offers("done", registered={"dates-lora"}) == {"continue_more", "next_steps", "delete"}


def test_next_steps_open_evaluate_compare_and_bias_with_the_adapter_preselected():
    steps = panels.next_steps("dates-lora")
    assert [s[0] for s in steps] == ["evaluate.py", "compare.py", "bias.py"]
    assert steps[0][2] == {"ev_models": [adapters.BASE_CHOICE, "dates-lora"]}
    assert steps[1][2] == {"cmp_adapter": "dates-lora"} and steps[2][2] == {"bias_adapter": "dates-lora"}


def test_pickers_keep_a_live_choice_and_move_off_a_gone_one():
    assert panels.picked_job(["a", "b"], "b", "a") == "b"
    assert panels.picked_job(["a", "b"], "gone", "b") == "b"
    assert panels.picked_job(["a", "b"], None, "gone") == "a"
    assert panels.picked_adapter(["a", "b"], "a", "b") == "b"  # an import or rename selects what it made
    assert panels.picked_adapter(["a", "b"], "a", None) == "a"
    assert panels.picked_adapter(["a", "b"], "gone", None) == "a"


def _adapter_folder(folder, base="smollm2-135m-instruct"):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": base}))
    (folder / "adapter_model.safetensors").write_text("weights")
    return folder


def test_adapter_rows_say_what_is_wrong_and_whether_it_can_be_made_active(workspace_home, tmp_path):
    adapters.import_adapter(_adapter_folder(tmp_path / "ok"), "ok")
    adapters.import_adapter(_adapter_folder(tmp_path / "other", base="minilm-l6"), "other")
    rows = {r["name"]: r for r in adapters.adapter_rows()}
    assert panels.adapter_problem(rows["ok"]) is None
    assert panels.activate_refusal(rows["ok"], "smollm2-135m-instruct") is None
    assert panels.activate_refusal(rows["other"], "smollm2-135m-instruct") == (
        "trained on minilm-l6, not the picked model")
    (adapters.adapters_dir() / "ok" / "adapter_config.json").unlink()
    broken = next(r for r in adapters.adapter_rows() if r["name"] == "ok")
    assert panels.adapter_problem(broken).startswith("ok cannot be used: ")
    assert panels.activate_refusal(broken, "smollm2-135m-instruct") is not None


def test_registry_stamp_changes_when_an_adapter_is_registered(workspace_home, tmp_path):
    before = adapters.registry_stamp()
    adapters.import_adapter(_adapter_folder(tmp_path / "new"), "new")
    assert adapters.registry_stamp() == (*before, "new")


def test_trash_table_shows_what_was_deleted_when_and_from_where(workspace_home, tmp_path):
    adapters.import_adapter(_adapter_folder(tmp_path / "gone"), "gone")
    item = adapters.delete("gone")
    [row] = trash.table_rows(trash.list_items())
    assert list(row) == ["what", "name", "deleted", "from"]
    assert row["what"] == "adapter" and row["name"] == "gone"
    assert row["deleted"] == time.strftime("%Y-%m-%d %H:%M", time.localtime(item.deleted))
    assert trash.labels([item, item]) == "adapter gone, adapter gone"
