"""Compare core on the real SmolLM2 with a random LoRA adapter: side-by-side outputs, log-prob shift,
attention diff; divergence measures against independent formulas."""

import numpy as np
import pytest
import torch

from workbench.compare import diff as compare
from workbench.errors import InvalidSetting
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import generate, generate_greedy

PROMPT = "Rewrite the date as YYYY-MM-DD.\nDate: March the 17th, 2020\nAnswer:"


def test_side_by_side_greedy_base_matches_plain_greedy_and_adapter_differs(smollm2, random_adapter):
    sbs = compare.side_by_side(smollm2, random_adapter, PROMPT, max_new_tokens=6, seed=3)
    assert sbs.base_greedy.text == generate_greedy(smollm2, PROMPT, max_new_tokens=6).text
    assert sbs.adapter == "random-lora"
    assert sbs.tuned_greedy.token_ids != sbs.base_greedy.token_ids or sbs.tuned_sampled.text != sbs.base_sampled.text


def test_logprob_shift_equals_independent_log_softmax(smollm2, random_adapter):
    gen = generate(smollm2, PROMPT, SamplingParams(max_new_tokens=5), adapter=random_adapter)
    shift = compare.logprob_shift(smollm2, random_adapter, gen, "random-lora")
    ids = torch.tensor([list(gen.prompt_ids) + list(gen.token_ids)])
    with torch.inference_mode():
        logp = torch.log_softmax(smollm2.model(ids).logits[0].double(), -1)  # base: adapter layers are off here
    start = len(gen.prompt_ids)
    expected = [float(logp[start - 1 + i, t]) for i, t in enumerate(gen.token_ids)]
    np.testing.assert_allclose(shift.logp_base, expected, atol=1e-4)
    assert np.abs(shift.shift).max() > 1e-3
    assert shift.table()["token"].tolist() == shift.tokens


def test_divergence_measures_match_their_definitions():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6), size=(2, 3, 6)).astype(np.float16)  # (L, H, T, T)
    q = rng.dirichlet(np.ones(6), size=(2, 3, 6)).astype(np.float16)
    js = compare.head_divergence(p, q, "js", skip_first_row=False)
    expected = np.array([[np.mean([jensenshannon(p[i, h, t].astype(np.float64), q[i, h, t].astype(np.float64),
                                                 base=2) for t in range(6)]) for h in range(3)] for i in range(2)])
    np.testing.assert_allclose(js, expected, atol=2e-3)
    tv = compare.head_divergence(p, q, "tv", skip_first_row=False)
    np.testing.assert_allclose(tv, 0.5 * np.abs(p.astype(np.float32) - q.astype(np.float32)).sum(-1).mean(-1),
                               atol=1e-5)
    assert compare.head_divergence(p, p, "js").max() == 0
    one_hot = np.eye(4, dtype=np.float16)[None, None]  # each query on itself vs on key 0
    first = np.zeros_like(one_hot)
    first[..., 0] = 1
    assert compare.head_divergence(one_hot, first, "tv")[0, 0] == pytest.approx(1.0)
    with pytest.raises(InvalidSetting, match="unknown measure"):
        compare.head_divergence(p, q, "kl")


def test_attention_diff_ranks_heads_and_opens_one(smollm2, random_adapter):
    diff = compare.attention_diff(smollm2, random_adapter, PROMPT, layers=[0, 7, 29], max_tokens=20)
    assert diff.divergence.shape == (3, 9) and diff.base.shape[2] == len(diff.tokens) <= 20
    assert diff.divergence.max() > 0 and diff.divergence.min() >= 0
    top = diff.ranking(5)
    assert top.iloc[0]["js"] == diff.divergence.max()
    base, tuned = diff.head_maps(int(top.iloc[0]["layer"]), int(top.iloc[0]["head"]))
    np.testing.assert_allclose(base.sum(-1), 1, atol=1e-2)
    assert not np.allclose(base, tuned)


def test_compare_needs_an_adapter(smollm2):
    with pytest.raises(InvalidSetting, match="choose an adapter"):
        compare.attention_diff(smollm2, None, PROMPT)


def test_compare_command_prints_the_same_shift_as_the_core(smollm2, random_adapter, capsys):
    import json

    from workbench import cli

    args = ["compare", "smollm2-135m-instruct", str(random_adapter), PROMPT, "--max-new-tokens", "4", "--json"]
    assert cli.main(args + ["--view", "shift"]) == 0
    printed = json.loads(capsys.readouterr().out)
    sbs = compare.side_by_side(smollm2, random_adapter, PROMPT, max_new_tokens=4)
    expected = compare.logprob_shift(smollm2, random_adapter, sbs.tuned_greedy, source=sbs.adapter)
    assert [row["token"] for row in printed["tokens"]] == expected.tokens
    assert np.allclose([row["shift"] for row in printed["tokens"]], expected.shift, atol=1e-4)

    assert cli.main(args + ["--view", "attention", "--max-tokens", "12", "--top", "3"]) == 0
    heads = json.loads(capsys.readouterr().out)["heads"]
    assert len(heads) == 3 and heads[0]["js"] >= heads[1]["js"] >= heads[2]["js"] > 0


def test_compare_command_without_a_known_adapter_is_a_one_line_error(capsys):
    from workbench import cli

    assert cli.main(["compare", "smollm2-135m-instruct", "no-such-adapter", "Hi", "--json"]) == 2
    assert "no-such-adapter" in capsys.readouterr().err
