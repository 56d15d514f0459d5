"""Prompt-lab history: stored with everything to reproduce, survives reopening, re-runs identically, exports."""

import csv
import io
import json

import pytest

from workbench.prompt_lab import history as experiments
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import generate, generate_grid
from workbench.prompt_lab.grid import GridSpec
from workbench.store import Store

SAMPLED = SamplingParams(max_new_tokens=5, temperature=0.9, top_p=0.9)


def test_runs_survive_store_reopen_and_rerun_reproduces_the_output(smollm2, workspace_home):
    gen = generate(smollm2, "Name an animal.", SAMPLED, chat=True, seed=5)
    run_id = experiments.record_generation(smollm2, gen, user_prompt="Name an animal.", chat=True, system=None)
    spec = GridSpec(template="Name a {kind}.", rows=({"kind": "fruit"}, {"kind": "tree"}),
                    param_sets=(SamplingParams(4),), batch_size=2)
    grid_id = experiments.record_grid(smollm2, spec, generate_grid(smollm2, spec))

    reopened = Store(workspace_home / "store.sqlite")  # a new connection factory over the same file
    runs = experiments.list_runs(store=reopened)
    assert [r.id for r in runs] == [grid_id, run_id]
    single = experiments.get_run(run_id, store=reopened)
    assert single.outputs[0]["text"] == gen.text and single.seed == 5
    assert single.spec["params"]["temperature"] == 0.9
    env = single.environment
    assert env["dtype"] == "float32" and env["device"] == "cpu" and env["attn_implementation"] == "sdpa"
    assert env["batch_size"] == 1 and env["versions"]["transformers"]
    assert [r.id for r in experiments.list_runs(kind="grid")] == [grid_id]
    assert [r.id for r in experiments.list_runs(contains="animal")] == [run_id]

    again = experiments.get_run(experiments.rerun(smollm2, single))
    assert again.outputs[0]["text"] == gen.text
    assert all(row["same"] for row in experiments.diff_runs(single, again))
    grid_again = experiments.get_run(experiments.rerun(smollm2, experiments.get_run(grid_id)))
    assert all(row["same"] for row in experiments.diff_runs(experiments.get_run(grid_id), grid_again))

    rows = list(csv.DictReader(io.StringIO(experiments.export_runs(experiments.list_runs(), "csv"))))
    assert len(rows) == 1 + 2 + 1 + 2 and {r["kind"] for r in rows} == {"generate", "grid"}
    mine = [r for r in rows if r["run"] == str(run_id)][0]  # every parameter, not a label; an ISO 8601 time
    assert float(mine["temperature"]) == 0.9 and mine["seed"] == "5" and mine["max_new_tokens"]
    assert mine["created"].endswith("+00:00") and "T" in mine["created"]
    assert all(r["temperature"] != "" for r in rows)  # grid cells carry their parameter set's values too
    dumped = json.loads(experiments.export_runs([single], "json"))
    assert dumped[0]["outputs"][0]["token_ids"] == gen.token_ids

    experiments.delete_run(run_id)
    with pytest.raises(experiments.UnknownRun, match=f"no run {run_id}"):
        experiments.get_run(run_id)


def test_a_stored_run_opens_as_the_result_that_made_it(smollm2, workspace_home):
    gen = generate(smollm2, "Name a colour.", SAMPLED, chat=True, system="Be brief.", seed=2)
    run = experiments.get_run(experiments.record_generation(smollm2, gen, user_prompt="Name a colour.", chat=True,
                                                            system="Be brief."))
    opened = experiments.stored_generation(smollm2, run)
    assert opened.prompt_ids == gen.prompt_ids and opened.token_ids == gen.token_ids and opened.text == gen.text
    assert (opened.prompt, opened.params, opened.seed, opened.finish_reason) == (gen.prompt, gen.params, 2,
                                                                                  gen.finish_reason)
    spec = GridSpec(template="Name a {kind}.", rows=({"kind": "fruit"},), param_sets=(SamplingParams(3),))
    result = generate_grid(smollm2, spec)
    grid_run = experiments.get_run(experiments.record_grid(smollm2, spec, result))
    opened_spec, opened_result = experiments.stored_grid(grid_run)
    assert opened_spec == spec and opened_result.cells == result.cells
    with pytest.raises(experiments.InvalidSetting, match=f"run {grid_run.id} is not a generation"):
        experiments.stored_generation(smollm2, grid_run)
    with pytest.raises(experiments.InvalidSetting, match=f"run {run.id} is not a grid"):
        experiments.stored_grid(run)


def test_rerun_refuses_a_different_model(smollm2, workspace_home):
    gen = generate(smollm2, "Hi", SamplingParams(2))
    run = experiments.get_run(experiments.record_generation(smollm2, gen, user_prompt="Hi", chat=False, system=None))
    moved = experiments.Run(**{**run.__dict__, "model": "some-other-model"})
    with pytest.raises(experiments.InvalidSetting, match="load that model"):
        experiments.rerun(smollm2, moved)


def _cli(*args, home):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "WORKBENCH_HOME": str(home)})


def test_cli_grid_prints_one_json_record_per_cell_and_records_the_run(tmp_path, workspace_home):
    spec = tmp_path / "grid.yaml"
    spec.write_text("template: 'Capital of {country}?'\nrows: [{country: France}, {country: Peru}]\n"
                    "param_sets: [{max_new_tokens: 3}]\nmodels: [smollm2-135m-instruct]\n")
    result = _cli("grid", str(spec), "--json", home=workspace_home)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["variables"]["country"] for r in records] == ["France", "Peru"]
    assert all(r["model"] == "smollm2-135m-instruct" and r["new_tokens"] <= 3 for r in records)
    assert experiments.get_run(records[0]["run"]).kind == "grid"


@pytest.mark.parametrize("args,message", [
    (["generate", "smollm2-135m-instruct", "hi", "--top-p", "1.5"], "field `top_p`"),
    (["generate", "smollm2-135m-instruct", " "], "field `prompt`: the prompt is empty"),
])
def test_cli_bad_sampling_or_prompt_exits_2_naming_the_field(args, message, workspace_home):
    result = _cli(*args, home=workspace_home)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_cli_grid_unknown_variable_names_file_row_and_variable(tmp_path, workspace_home):
    spec = tmp_path / "bad.yaml"
    spec.write_text("template: 'About {city}'\nrows: [{town: Lyon}]\n")
    result = _cli("grid", str(spec), home=workspace_home)
    assert result.returncode == 2 and "bad.yaml" in result.stderr and "unknown variable `{city}` in row 0" \
        in result.stderr
