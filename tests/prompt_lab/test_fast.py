"""Fast mode: an int8 copy of the base model whose outputs are produced, labelled approximate, and recorded;
the shared model stays exact."""

import csv
import io

import pytest
import torch

from workbench.prompt_lab import history as experiments
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.fast import FAST_LABEL, FastModeUnavailable, quantised_copy
from workbench.prompt_lab.generation import generate, generate_greedy, generate_grid
from workbench.prompt_lab.grid import GridSpec, GridSpecError

PROMPT = "What is the capital of France?"


def test_fast_generation_is_labelled_recorded_and_leaves_the_shared_model_exact(smollm2, workspace_home):
    shared_q_proj = type(smollm2.model.model.layers[0].self_attn.q_proj)  # nn.Linear, or LoRA's from earlier tests
    exact_before = generate_greedy(smollm2, PROMPT, max_new_tokens=8, chat=True).token_ids
    fast = generate(smollm2, PROMPT, SamplingParams(8), chat=True, fast=True)
    assert fast.approximate == FAST_LABEL and fast.new_tokens > 0 and fast.text.strip()
    assert generate(smollm2, PROMPT, SamplingParams(8), chat=True).approximate is None
    copy = quantised_copy(smollm2)
    assert copy is not smollm2.model and quantised_copy(smollm2) is copy  # made once
    assert type(smollm2.model.model.layers[0].self_attn.q_proj) is shared_q_proj
    assert not any(type(m) is torch.nn.Linear for m in copy.model.layers[0].self_attn.modules())  # all int8
    assert generate_greedy(smollm2, PROMPT, max_new_tokens=8, chat=True).token_ids == exact_before

    run = experiments.get_run(experiments.record_generation(smollm2, fast, user_prompt=PROMPT, chat=True,
                                                            system=None))
    assert run.approximate == FAST_LABEL and run.outputs[0]["approximate"] == FAST_LABEL and run.spec["fast"]
    again = experiments.get_run(experiments.rerun(smollm2, run))
    assert again.approximate == FAST_LABEL and again.outputs[0]["text"] == fast.text
    rows = list(csv.DictReader(io.StringIO(experiments.export_runs([run], "csv"))))
    assert rows[0]["approximate"] == FAST_LABEL
    assert experiments.runs_table([run])[0]["approximate"] == FAST_LABEL


def test_fast_grid_cells_are_labelled_and_the_run_records_it(smollm2, workspace_home):
    spec = GridSpec(template="Name a {kind}.", rows=({"kind": "fruit"}, {"kind": "river"}),
                    param_sets=(SamplingParams(4),), batch_size=2, fast=True)
    result = generate_grid(smollm2, spec)
    assert result.approximate == FAST_LABEL and all(c.approximate == FAST_LABEL and c.text for c in result.cells)
    run = experiments.get_run(experiments.record_grid(smollm2, spec, result))
    assert run.approximate == FAST_LABEL and GridSpec.from_dict(run.spec).fast
    exact = generate_grid(smollm2, GridSpec(template="Name a {kind}.", rows=spec.rows, param_sets=spec.param_sets))
    assert exact.approximate is None and all(c.approximate is None for c in exact.cells)


def test_fast_mode_refuses_an_adapter_and_a_spec_says_true_or_false(smollm2, tmp_path):
    with pytest.raises(FastModeUnavailable, match="base model only"):
        generate(smollm2, PROMPT, SamplingParams(2), fast=True, adapter=tmp_path)
    with pytest.raises(GridSpecError, match="`fast` must be true or false") as err:
        GridSpec.from_dict({"template": "x", "fast": "yes"}, path="grid.yaml")
    assert err.value.field == "fast"
