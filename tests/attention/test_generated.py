"""Generate, then inspect: each step's attention row (read from generate's KV-cache steps) equals softmax(q·kᵀ·s)
recomputed from the layer's projections over the whole generated sequence; tokens equal plain greedy generate;
top-k and entropy equal those of a fresh forward pass over the sequence."""

import numpy as np
import pytest
import torch

from workbench.attention.generated import generate_and_inspect
from workbench.attention.row_math import layer_query_keys
from workbench.errors import InvalidSetting

PROMPT = "What is the capital of France?"


@pytest.fixture(scope="module")
def inspected(smollm2):
    return generate_and_inspect(smollm2, PROMPT, 8, chat=True, top_k=5)


def test_tokens_are_plain_greedy_generate(smollm2, inspected):
    ids = torch.as_tensor(inspected.input_ids[:inspected.prompt_len])[None]
    with torch.inference_mode():
        plain = smollm2.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                       do_sample=False)
    assert inspected.input_ids.tolist() == plain[0].tolist()
    assert "Paris" in "".join(inspected.tokens[inspected.prompt_len:])
    assert inspected.steps == len(inspected.input_ids) - inspected.prompt_len


@pytest.mark.parametrize("layer, head", [(0, 0), (7, 4), (29, 8)])
def test_each_step_row_equals_the_row_recomputed_from_the_projections(smollm2, inspected, layer, head):
    q, k, _, scale = layer_query_keys(smollm2, inspected.input_ids, layer)
    kv = head // (q.shape[0] // k.shape[0])
    for step in range(inspected.steps):
        query = inspected.prompt_len - 1 + step                        # the position that chose this token
        expected = torch.softmax((k[kv, :query + 1] @ q[head, query]) * scale, -1).numpy()
        got = inspected.row(step, layer, head)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=2e-3)


def test_alternatives_and_entropy_match_a_forward_pass(smollm2, inspected):
    ids = torch.as_tensor(inspected.input_ids)[None]
    with torch.inference_mode():
        logits = smollm2.model(input_ids=ids).logits[0, inspected.prompt_len - 1:-1].float()  # (N, V)
    logp = torch.log_softmax(logits, -1)
    assert (inspected.top_ids[:, 0] == inspected.input_ids[inspected.prompt_len:]).all()      # greedy picks top-1
    np.testing.assert_allclose(inspected.top_probs, logp.topk(5, -1).values.exp().numpy(), atol=1e-3)
    entropy = -(logp.exp() * logp).sum(-1).numpy()
    np.testing.assert_allclose(inspected.entropy, entropy, rtol=1e-3, atol=1e-3)


def test_bad_requests_are_clear_errors(smollm2, minilm, inspected):
    with pytest.raises(InvalidSetting, match="does not generate"):
        generate_and_inspect(minilm, PROMPT, 4)
    with pytest.raises(InvalidSetting, match="max_new_tokens"):
        generate_and_inspect(smollm2, PROMPT, 0)
    with pytest.raises(InvalidSetting, match="step 99"):
        inspected.row(99, 0, 0)


def test_cli_prints_one_record_per_new_token_with_the_rows_of_the_picked_layer(inspected, capsys):
    import json

    from workbench.cli import main

    assert main(["attention", "smollm2-135m-instruct", PROMPT, "--chat", "--generate", "3", "--layer", "7",
                 "--head", "4", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    for r in records:
        assert r["token"] == inspected.tokens[r["position"]] and r["alternatives"][0]["token"] == r["token"]
        np.testing.assert_allclose(r["rows"][0][0], inspected.row(r["step"], 7, 4), atol=1e-4)
