"""Contribution graph checked against the model itself: per-head contributions add up to what the attention block
wrote (read by a hook in a separate ordinary pass), the stream adds up layer by layer, the edges add up to their
head's contribution, the graph is causal and its threshold prunes monotonically, and all of it holds with a
LoRA adapter on the output projection."""

import dataclasses
import json

import pytest
import torch

from workbench.attention.contributions import (
    attention_edges,
    component_importance,
    contribution_graph,
    head_importance,
    trace_contributions,
    vocabulary_projection,
)
from workbench.attention.hooks import UnsupportedAttention
from workbench.errors import InvalidSetting

TEXT = "The capital of France is Paris. The capital of Germany is"


@pytest.fixture(scope="module")
def trace(smollm2):
    return trace_contributions(smollm2, TEXT)


def _block_output(loaded, ids, module) -> torch.Tensor:
    """What `module` returned (its first output, (T, D)) in an ordinary forward pass (sdpa, no hooks of ours)."""
    seen = {}

    def grab(_m, _a, out):
        seen["out"] = (out[0] if isinstance(out, tuple) else out)[0].detach().float()

    handle = module.register_forward_hook(grab)
    try:
        with loaded.lock, torch.inference_mode():
            loaded.model(input_ids=torch.as_tensor(ids)[None], attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    finally:
        handle.remove()
    return seen["out"]


def _assert_close(rebuilt: torch.Tensor, actual: torch.Tensor, tolerance: float = 1e-4) -> None:
    scale = actual.abs().max().item()
    gap = (rebuilt - actual).abs().max().item()
    assert gap <= tolerance * scale, f"largest gap {gap:.3g} against values up to {scale:.3g}"


def _assert_heads_sum_to_attention_output(trace, loaded, modules: dict) -> None:
    for layer, module in modules.items():
        rebuilt = trace.head_contributions(layer).sum(0) + trace.out_bias[layer]     # (T, D)
        _assert_close(rebuilt, _block_output(loaded, trace.input_ids, module))


def test_smollm2_heads_plus_bias_add_up_to_the_attention_output(smollm2, trace):
    layers = smollm2.model.model.layers
    assert (trace.n_heads, trace.kv_heads, trace.head_dim) == (9, 3, 64)
    _assert_heads_sum_to_attention_output(trace, smollm2, {i: layers[i].self_attn for i in (0, 7, 14, 29)})


def test_minilm_heads_plus_bias_add_up_to_the_dense_output_before_its_layernorm(minilm):
    trace = trace_contributions(minilm, "The cat sat on the mat.")
    assert trace.has_bias and not trace.pre_norm and trace.n_heads == 12
    _assert_heads_sum_to_attention_output(trace, minilm, {i: layer.attention.output.dense
                                                          for i, layer in enumerate(minilm.model.encoder.layer)})


def test_residual_attention_and_mlp_add_up_to_the_layer_output_and_the_next_layers_input(smollm2, trace):
    with smollm2.lock, torch.inference_mode():
        hidden = smollm2.model(input_ids=torch.as_tensor(trace.input_ids)[None],
                               output_hidden_states=True).hidden_states      # embeddings, then each layer's output
    for layer in range(trace.n_layers):
        _assert_close(trace.layer_in[layer], hidden[layer][0].float())
        _assert_close(trace.layer_in[layer] + trace.attention_out[layer] + trace.mlp_out[layer],
                      trace.layer_out[layer], 1e-6)
    assert torch.equal(trace.layer_out[:-1], trace.layer_in[1:])


def test_edges_of_a_head_add_up_to_its_contribution(trace):
    layer, i = 4, trace.n_tokens - 1
    f = trace.value_contributions(layer)                                               # (H, T, D)
    alpha = trace.pattern[layer, :, i].float()                                         # (H, T)
    _assert_close((alpha[..., None] * f).sum(1), trace.head_contributions(layer)[:, i], 5e-3)  # float16 weights


def test_importances_share_each_block_output(trace):
    frame = component_importance(trace)
    assert len(frame) == trace.n_layers * (trace.n_heads + 3) and (frame["importance"] >= 0).all()
    sums = frame.groupby(["layer", "block"])["importance"].sum()
    assert sums.to_numpy() == pytest.approx(1.0, abs=1e-5)
    residual, heads = attention_edges(trace, 7, [5])[5]
    assert heads.shape == (trace.n_heads, 6) and residual + heads.sum() == pytest.approx(1.0, abs=1e-5)
    assert head_importance(trace, 7).shape == (1 + trace.n_heads, trace.n_tokens)


def test_graph_is_causal_non_empty_and_pruned_monotonically_by_the_threshold(trace):
    graphs = [contribution_graph(trace, -1, t) for t in (0.01, 0.04, 0.2)]
    loose, default, strict = graphs
    assert default.token == trace.n_tokens - 1 and default.edges
    assert any(e.kind == "head" and e.source < e.target for e in default.edges)   # information moved between tokens
    for graph in graphs:
        assert all(e.source <= e.target for e in graph.edges)
        assert all(e.importance > graph.threshold for e in graph.edges)
        reached = {(n.layer, n.stage, n.position) for n in graph.nodes}
        assert all(dataclasses.astuple(e.target_node) in reached for e in graph.edges)
    assert set(strict.edges) <= set(default.edges) <= set(loose.edges)
    assert len(strict.edges) < len(loose.edges)
    frame = default.to_frame()
    assert len(frame) == len(default.edges) and (frame["target"] <= default.token).all()


def test_graph_needs_a_pre_norm_model_and_a_token_in_range(minilm, trace):
    with pytest.raises(InvalidSetting, match="out of range"):
        contribution_graph(trace, trace.n_tokens)
    with pytest.raises(InvalidSetting, match="threshold"):
        contribution_graph(trace, -1, 1.5)
    with pytest.raises(UnsupportedAttention, match="pre-norm"):
        contribution_graph(trace_contributions(minilm, "Hello there"))


def test_vocabulary_projection_ranks_promoted_and_suppressed_tokens(smollm2, trace):
    vp = vocabulary_projection(smollm2, trace, trace.n_layers - 1, "head 2", k=5)
    assert len(vp.promoted) == 5 and list(vp.promoted_logits) == sorted(vp.promoted_logits, reverse=True)
    assert list(vp.suppressed_logits) == sorted(vp.suppressed_logits)
    assert vp.promoted_logits[-1] > vp.suppressed_logits[-1]
    with pytest.raises(InvalidSetting, match="unknown component"):
        vocabulary_projection(smollm2, trace, 0, "ffn")


@pytest.fixture(scope="module")
def lora(smollm2, tmp_path_factory):
    """A fresh copy of SmolLM2 with random LoRA weights on v_proj and o_proj (not the shared model): the adapter
    saved as a folder, and the copy cut to two layers."""
    from peft import LoraConfig, get_peft_model

    from workbench.models import load

    fresh = load(smollm2.spec)
    torch.manual_seed(0)
    peft_model = get_peft_model(fresh.model, LoraConfig(r=4, lora_alpha=16, target_modules=["v_proj", "o_proj"],
                                                        init_lora_weights=False))
    folder = tmp_path_factory.mktemp("lora") / "random-o-proj"
    peft_model.save_pretrained(folder)
    fresh.model.model.layers = fresh.model.model.layers[:2]
    fresh.model.config.num_hidden_layers = 2
    return folder, dataclasses.replace(fresh, info=dataclasses.replace(fresh.info, layers=2))


def test_heads_add_up_with_a_lora_adapter_on_the_output_projection(lora):
    _, model = lora
    trace = trace_contributions(model, TEXT)
    attention = [layer.self_attn for layer in model.model.model.layers]
    assert trace.n_layers == 2 and hasattr(attention[0].o_proj, "lora_A")
    base = attention[0].o_proj.get_base_layer().weight.float()
    assert (trace.out_weight[0] - base).abs().max() > 1e-3          # the adapter's update is in the split
    _assert_heads_sum_to_attention_output(trace, model, dict(enumerate(attention)))
    f, alpha = trace.value_contributions(1), trace.pattern[1, :, -1].float()             # values through LoRA too
    _assert_close((alpha[..., None] * f).sum(1), trace.head_contributions(1)[:, -1], 5e-3)


def test_an_adapter_folder_is_active_during_the_pass_only(smollm2, trace, lora):
    from workbench.models import adapters

    folder, _ = lora
    tuned = trace_contributions(smollm2, TEXT, adapter=str(folder))
    assert tuned.adapter == "random-o-proj" and (tuned.out_weight[3] - trace.out_weight[3]).abs().max() > 1e-3
    with adapters.use_adapter(smollm2, adapters.read_adapter(folder)):
        actual = _block_output(smollm2, tuned.input_ids, smollm2.model.model.layers[3].self_attn)
    _assert_close(tuned.head_contributions(3).sum(0), actual)
    again = trace_contributions(smollm2, TEXT)                        # the shared model is the base again
    assert torch.allclose(again.out_weight, trace.out_weight, atol=1e-6)
    assert torch.allclose(again.layer_out, trace.layer_out)
    assert contribution_graph(tuned).adapter == "random-o-proj"


def test_cli_prints_the_graph_as_json_and_refuses_a_token_out_of_range(capsys):
    from workbench.cli import main

    assert main(["contributions", "smollm2-135m-instruct", "The cat sat on the", "--token", "-1", "--threshold",
                 "0.1", "--max-tokens", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["token"] == 4 and out["edges"] and out["nodes"] and len(out["importance"]) == 30 * 12
    assert all(e["source"] <= e["target"] and e["importance"] > 0.1 for e in out["edges"])
    assert main(["contributions", "smollm2-135m-instruct", "The cat", "--token", "9"]) == 2
    assert "token 9 is out of range" in capsys.readouterr().err


def test_api_result_draws_the_graph_and_rethresholds_without_a_pass(smollm2, tmp_path):
    import workbench as wb

    c = wb.contributions(smollm2, "The cat sat on the", token=-1)
    fig = c.figure("graph")
    assert c.to_pandas().equals(c.core["graph"].to_frame()) and len(fig.data) > 3
    assert c.figure("importance").data[0].z
    strict = wb.contribution_graph(c, threshold=0.2)
    assert strict.core["trace"] is c.core["trace"] and len(strict.to_pandas()) < len(c.to_pandas())
    assert json.loads(c.save(tmp_path / "graph.json").read_text())["result"]["graph"]["edges"]
    assert "<html>" in c.save(tmp_path / "graph.html").read_text()
    vp = wb.vocabulary_projection(smollm2, c, 20, "mlp", k=3)
    assert len(vp.to_pandas()) == 3 and vp.figure().data
