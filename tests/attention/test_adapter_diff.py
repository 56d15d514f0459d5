"""Base vs adapter on SmolLM2 with real LoRA adapters: the diff is exactly zero for an adapter that changes nothing
(B = 0, PEFT's own initialisation) and for the base against itself, and non-zero for a trained (random) one;
the adapter's attribution targets the token the base run chose."""

import shutil

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from workbench.attention import adapter_diff
from workbench.errors import InvalidSetting
from workbench.models import adapters

TEXT = "The capital of France is Paris. The capital of Germany is"


@pytest.fixture(scope="module")
def zero_adapter(workspace_with_adapter, tmp_path_factory):
    """`page-lora` with every lora_B weight zeroed, registered as `zero-lora`: a real adapter that adds exactly 0."""
    folder = tmp_path_factory.mktemp("zero") / "zero-lora"
    shutil.copytree(adapters.resolve("page-lora").path, folder)
    weights = folder / "adapter_model.safetensors"
    tensors = load_file(weights)
    save_file({k: v * 0 if "lora_B" in k else v for k, v in tensors.items()}, weights)
    return adapters.import_adapter(folder, "zero-lora")


def test_the_contribution_diff_is_zero_without_a_change_and_not_with_a_trained_adapter(smollm2, zero_adapter):
    same = adapter_diff.contribution_diff(smollm2, TEXT, None, token=-1)
    zero = adapter_diff.contribution_diff(smollm2, TEXT, zero_adapter, token=-1)
    tuned = adapter_diff.contribution_diff(smollm2, TEXT, "page-lora", token=-1)
    for d in (same, zero):
        assert np.abs(d.frame[["delta", "change"]].to_numpy()).max() == 0.0
    assert zero.adapter == "zero-lora" and tuned.adapter == "page-lora"
    assert np.abs(tuned.frame["delta"]).max() > 1e-3 and tuned.frame["change"].max() > 1e-3
    heads = smollm2.info.heads
    assert tuned.delta_matrix().shape == (smollm2.info.layers, heads + 1)    # every head, then the MLP
    assert len(tuned.frame) == smollm2.info.layers * (heads + 1)
    assert tuned.ranking(5)["delta"].abs().is_monotonic_decreasing
    base_graph, tuned_graph = tuned.graphs(0.04)
    assert base_graph.adapter is None and tuned_graph.adapter == "page-lora"


def test_the_attribution_diff_targets_the_base_models_token_and_is_zero_for_a_zero_adapter(smollm2, zero_adapter):
    zero = adapter_diff.attribution_diff(smollm2, TEXT, zero_adapter, method="gxi")
    assert zero.tuned.target_id == zero.base.target_id and zero.tuned.adapter == "zero-lora"
    assert np.abs(zero.delta).max() == 0.0
    tuned = adapter_diff.attribution_diff(smollm2, TEXT, "page-lora", target=" Berlin", contrast=" Paris",
                                          method="gxi")
    assert tuned.tuned.target == tuned.base.target and tuned.tuned.contrast == tuned.base.contrast
    assert np.abs(tuned.delta).max() > 1e-4
    assert list(tuned.to_frame().columns) == ["position", "token", "base", "adapter", "delta"]


def test_traces_of_different_texts_are_refused(smollm2):
    from workbench.attention.contributions import trace_contributions

    with pytest.raises(InvalidSetting, match="different tokens"):
        adapter_diff.diff_traces(trace_contributions(smollm2, "One text"), trace_contributions(smollm2, "Another"))


def test_the_notebook_api_draws_both_diffs_and_serialises_them(smollm2, workspace_with_adapter):
    import json

    import workbench as wb

    d = wb.adapter_diff(smollm2, TEXT, "page-lora", token=-1)
    assert "base vs page-lora" in d.summary and len(d.to_pandas()) == smollm2.info.layers * (smollm2.info.heads + 1)
    for view in ("delta", "change", "base graph", "adapter graph"):
        assert d.figure(view).layout.title.text
    assert json.loads(d.to_json())["result"]["adapter"] == "page-lora"
    r = wb.attribution_diff(smollm2, TEXT, "page-lora", method="gxi")
    assert [t.name for t in r.figure("tokens").data] == ["base", "page-lora", "page-lora - base"]
    assert list(r.to_pandas()["delta"]) == list(r.core.delta)


def test_cli_versus_base_prints_both_runs_and_their_difference(smollm2, zero_adapter, capsys):
    import json

    from workbench.cli import main

    assert main(["contributions", "smollm2-135m-instruct", TEXT, "--adapter", "page-lora", "--versus-base", "--top",
                 "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["adapter"] == "page-lora" and len(out["top"]) == 3
    assert len(out["components"]) == smollm2.info.layers * (smollm2.info.heads + 1)
    moved = [abs(c["delta"]) for c in out["top"]]
    assert moved == sorted(moved, reverse=True) and moved[0] > 1e-3
    assert main(["attribute", "smollm2-135m-instruct", TEXT, "--adapter", "zero-lora", "--versus-base", "--method",
                 "gxi", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["adapter"] == "zero-lora" and out["base_value"] == out["adapter_value"]
    assert [t["delta"] for t in out["tokens"]] == [0.0] * len(out["tokens"])
    assert main(["contributions", "smollm2-135m-instruct", TEXT, "--versus-base"]) == 2
    assert "give one with --adapter" in capsys.readouterr().err
