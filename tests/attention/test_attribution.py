"""Input attribution on the real embedded models: integrated gradients meet completeness, occlusion of an unseen
token is exactly zero, gradient x input equals autograd, contrast is linear; the faithfulness panel; adapters."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.attention.attribution import UnknownToken, attribute, disagreement, faithfulness, token_id
from workbench.errors import InvalidSetting

PROMPT = "The capital of France is"
SENTENCE = "The cat sat on the mat"


def _ids(loaded, text):
    return loaded.tokenizer(text)["input_ids"]


def _logit_gxi(loaded, text, position, target, contrast=None):
    """Gradient x input of a causal logit, from autograd on inputs_embeds: (T,)."""
    ids = torch.tensor([_ids(loaded, text)])
    embeds = loaded.model.get_input_embeddings()(ids).detach().requires_grad_(True)
    logits = loaded.model(inputs_embeds=embeds).logits[0, position]
    value = logits[target] - (logits[contrast] if contrast is not None else 0)
    (grad,) = torch.autograd.grad(value, embeds)
    return (grad * embeds).sum(-1)[0].detach().numpy()


def _similarity_gxi(loaded, text, reference):
    """Gradient x input of cos(mean last hidden state, reference text's), from autograd on inputs_embeds: (T,)."""
    embedding = loaded.model.get_input_embeddings()
    with torch.no_grad():
        ref = loaded.model(input_ids=torch.tensor([_ids(loaded, reference)])).last_hidden_state.mean(1)
    embeds = embedding(torch.tensor([_ids(loaded, text)])).detach().requires_grad_(True)
    pooled = loaded.model(inputs_embeds=embeds).last_hidden_state.mean(1)
    (grad,) = torch.autograd.grad(torch.nn.functional.cosine_similarity(pooled, ref)[0], embeds)
    return (grad * embeds).sum(-1)[0].detach().numpy()


def test_integrated_gradients_meet_completeness_and_the_gap_shrinks_with_steps(smollm2):
    coarse, fine = (attribute(smollm2, PROMPT, method="ig", steps=steps) for steps in (8, 64))
    assert fine.target == "␣Paris"
    change = fine.value - fine.baseline_value
    assert abs(fine.scores.sum() - change) <= 0.05 * abs(change)
    assert abs(fine.delta) < abs(coarse.delta), (coarse.completeness_gap, fine.completeness_gap)


def test_occlusion_of_a_token_the_causal_model_cannot_see_is_exactly_zero(smollm2):
    n = len(_ids(smollm2, PROMPT))
    a = attribute(smollm2, PROMPT, method="occlusion", position=2)
    assert a.visible == 3 and a.n_tokens == n > 3
    assert np.all(a.scores[3:] == 0.0), a.scores          # exact, not approximately
    assert np.all(a.scores[1:3] != 0.0)                   # the seen tokens do move it (token 0 is kept)
    assert a.scores[0] == 0.0 and a.fixed[0]


def test_gradient_x_input_equals_autograd_on_the_input_embeddings(smollm2):
    a = attribute(smollm2, PROMPT, method="gxi", target=" Paris", position=4)
    expected = _logit_gxi(smollm2, PROMPT, 4, token_id(smollm2.tokenizer, " Paris"))
    np.testing.assert_allclose(a.scores, expected, rtol=1e-4, atol=1e-5)


def test_contrast_is_target_minus_contrast_for_gradient_x_input(smollm2):
    text = "The nurse said that"
    both = attribute(smollm2, text, method="gxi", target=" she", contrast=" he")
    she = attribute(smollm2, text, method="gxi", target=" she")
    he = attribute(smollm2, text, method="gxi", target=" he")
    np.testing.assert_allclose(both.scores, she.scores - he.scores, rtol=1e-4, atol=1e-5)
    assert both.value == pytest.approx(she.value - he.value, abs=1e-4)
    assert "logit('␣she') - logit('␣he')" in both.output
    expected = _logit_gxi(smollm2, text, len(_ids(smollm2, text)) - 1, both.target_id, both.contrast_id)
    np.testing.assert_allclose(both.scores, expected, rtol=1e-4, atol=1e-5)


def test_minilm_integrated_gradients_complete_gxi_matches_autograd_contrast_is_linear(minilm):
    ig = attribute(minilm, SENTENCE, target="an animal", method="ig", steps=16)
    assert ig.kind == "encoder" and ig.position is None and ig.visible == ig.n_tokens
    assert ig.completeness_gap < 0.05
    assert attribute(minilm, SENTENCE, target="an animal", method="ig", steps=4).completeness_gap > ig.completeness_gap
    gxi = attribute(minilm, SENTENCE, target="an animal", method="gxi")
    np.testing.assert_allclose(gxi.scores, _similarity_gxi(minilm, SENTENCE, "an animal"), rtol=1e-4, atol=1e-6)
    both = attribute(minilm, SENTENCE, target="an animal", contrast="a city", method="gxi")
    city = attribute(minilm, SENTENCE, target="a city", method="gxi")
    np.testing.assert_allclose(both.scores, gxi.scores - city.scores, rtol=1e-4, atol=1e-6)


def test_minilm_occlusion_is_the_output_change_when_one_token_becomes_the_pad_token(minilm):
    a = attribute(minilm, SENTENCE, method="occlusion")   # no target: the norm of the sentence embedding
    ids = _ids(minilm, SENTENCE)
    changed = list(ids)
    changed[2] = minilm.tokenizer.pad_token_id
    with torch.no_grad():
        norms = [minilm.model(input_ids=torch.tensor([x])).last_hidden_state.mean(1).norm().item()
                 for x in (ids, changed)]
    assert a.scores[2] == pytest.approx(norms[0] - norms[1], abs=1e-4)
    assert a.value == pytest.approx(norms[0], abs=1e-4)
    assert a.scores[0] == a.scores[-1] == 0.0 and a.fixed[0] and a.fixed[-1]   # [CLS] and [SEP] kept


def test_faithfulness_panel_compares_the_visible_moving_tokens(smollm2):
    panel = faithfulness(smollm2, PROMPT, steps=8, position=3)
    frame = panel.to_frame()
    assert list(frame.columns) == ["position", "token", "rollout", "gxi", "ig", "occlusion", "compared"]
    assert frame["compared"].tolist() == [False, True, True, True, False]   # not the kept first token, no future
    corr = panel.correlations
    assert list(corr.columns) == ["rollout", "gxi", "ig", "occlusion"]
    np.testing.assert_allclose(np.diag(corr.to_numpy()), 1.0)
    np.testing.assert_allclose(corr.to_numpy(), corr.to_numpy().T)
    assert panel.rollout[:4].sum() == pytest.approx(1.0, abs=1e-3) and panel.rollout[4] == 0
    assert panel.disagree == (np.nanmin(corr.to_numpy()) < 0.3)
    assert panel.message


def test_disagreement_names_the_pairs_below_the_threshold():
    names = ["rollout", "gxi", "ig"]
    corr = pd.DataFrame([[1, 0.1, 0.5], [0.1, 1, 0.9], [0.5, 0.9, 1]], index=names, columns=names)
    disagree, message = disagreement(corr, 0.3)
    assert disagree and "attention rollout vs gradient x input ρ = 0.10" in message and "integrated" not in message
    assert disagreement(corr, 0.05) == (False, disagreement(corr, 0.05)[1])
    nan = pd.DataFrame(np.full((3, 3), math.nan), index=names, columns=names)
    assert disagreement(nan)[0] is False and "Too few tokens" in disagreement(nan)[1]


def test_targets_are_one_token_or_a_clear_error(smollm2):
    paris = token_id(smollm2.tokenizer, " Paris")
    assert token_id(smollm2.tokenizer, "␣Paris") == token_id(smollm2.tokenizer, f"id:{paris}") == paris
    with pytest.raises(UnknownToken, match="3 tokens.*leading space"):
        token_id(smollm2.tokenizer, " Parisians are")
    with pytest.raises(UnknownToken, match="out of range"):
        token_id(smollm2.tokenizer, 10**9)
    with pytest.raises(InvalidSetting, match="`method` must be one of"):
        attribute(smollm2, PROMPT, method="saliency")
    with pytest.raises(InvalidSetting, match="`position` 99 is out of range"):
        attribute(smollm2, PROMPT, method="gxi", position=99)


def test_an_adapter_changes_the_attribution_and_gxi_still_matches_autograd(smollm2, workspace_home):
    import importlib.util

    from workbench.models.adapters import use_adapter

    helper = Path(__file__).parents[1] / "evaluate" / "test_run.py"
    spec = importlib.util.spec_from_file_location("unit_test_evaluate_attr", helper)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (info,) = module.make_random_adapters(smollm2, ["attr-lora"])
    base = attribute(smollm2, PROMPT, method="gxi", target=" Paris")
    tuned = attribute(smollm2, PROMPT, method="gxi", target=" Paris", adapter="attr-lora")
    assert tuned.adapter == "attr-lora" and base.adapter is None
    assert not np.allclose(base.scores, tuned.scores, atol=1e-4)
    with use_adapter(smollm2, info):
        expected = _logit_gxi(smollm2, PROMPT, len(base.scores) - 1, base.target_id)
    np.testing.assert_allclose(tuned.scores, expected, rtol=1e-4, atol=1e-5)
    again = attribute(smollm2, PROMPT, method="gxi", target=" Paris")
    np.testing.assert_array_equal(again.scores, base.scores)   # the base is itself again after the block
