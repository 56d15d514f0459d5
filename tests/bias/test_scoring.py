"""Bias scoring keeps every sequence inside the model's context (learned positions index past it otherwise)
with a warning, and runs masked-LM heads on the scored positions only, never on (B, T, V)."""

import numpy as np
import pytest
import torch

from workbench.bias import scoring
from workbench.models.batching import padding_id
from workbench.models.scoring import sequence_logprobs

LONG = " ".join(["the cat sat on the mat"] * 120)  # ~720 tokens in either tokenizer


@pytest.fixture(scope="module")
def minilm_mlm(minilm):
    """The embedded MiniLM encoder (learned positions, 512) under a masked-LM head."""
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    return BertForMaskedLM.from_pretrained(minilm.source).eval()


@pytest.fixture(scope="module")
def tiny_learned_positions(smollm2):
    """A causal LM with a 32-position learned table (GPT-2 layout) over SmolLM2's tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(smollm2.tokenizer), n_positions=32, n_embd=32, n_layer=1, n_head=2)
    return GPT2LMHeadModel(config).eval()


def test_encoder_texts_longer_than_512_tokens_are_cut_with_a_warning(minilm, minilm_mlm):
    tok = minilm.tokenizer
    assert scoring.context_limit(minilm_mlm, tok) == 512
    warnings = []
    logp = scoring.masked_token_log_probs(minilm_mlm, tok, [f"{tok.mask_token} {LONG}", "a [MASK] ."],
                                          tok.convert_tokens_to_ids(["he", "she"]), warnings=warnings)
    assert np.isfinite(logp).all() and warnings == [
        "1 texts longer than the model's 512-token context were cut to 512 tokens (kept their start)"]


def test_pseudo_log_likelihood_of_a_sentence_past_learned_positions_scores_its_start(minilm):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    tok = minilm.tokenizer  # a 32-position encoder: the cut sentence is 31 tokens and [SEP]
    model = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64,
                                       max_position_embeddings=32)).eval()
    warnings = []
    got = scoring.pseudo_log_likelihoods(model, tok, [LONG], warnings=warnings)
    ids = tok(LONG)["input_ids"]
    cut = tok.decode(ids[1:31])
    assert got[0] == pytest.approx(scoring.pseudo_log_likelihoods(model, tok, [cut])[0], abs=1e-4)
    assert warnings == ["1 sentences longer than the model's 32-token context were cut to 32 tokens "
                        "(kept their start)"]


def test_masked_text_whose_mask_is_cut_away_scores_nan_with_a_warning(minilm, minilm_mlm):
    tok = minilm.tokenizer
    warnings = []
    logp = scoring.masked_token_log_probs(minilm_mlm, tok, [f"{LONG} {tok.mask_token}"], [1], warnings=warnings)
    assert np.isnan(logp).all() and "lost their [MASK]" in warnings[-1]


def test_masked_lm_head_runs_on_scored_positions_only(minilm, minilm_mlm):
    shapes = []
    handle = minilm_mlm.cls.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
    try:
        scoring.pseudo_log_likelihoods(minilm_mlm, minilm.tokenizer, ["the doctor is here"], batch_size=8)
    finally:
        handle.remove()
    assert shapes == [(4, minilm_mlm.config.vocab_size)]  # (B masked copies, V), no T axis


def test_causal_sentences_past_learned_positions_are_cut_to_the_context(smollm2, tiny_learned_positions):
    tok, model = smollm2.tokenizer, tiny_learned_positions
    warnings = []
    got = scoring.sentence_log_likelihoods(model, tok, [LONG, "short one"], warnings=warnings)
    head = scoring.conditioned_ids(tok, LONG)[:32]
    expected = sequence_logprobs(model, [head], 1, pad_id=padding_id(tok))[0].sum()
    assert got[0] == pytest.approx(expected, abs=1e-4) and np.isfinite(got).all()
    assert warnings == ["1 sentences longer than the model's 32-token context were cut to 32 tokens "
                        "(kept their start)"]


def test_causal_prompts_past_learned_positions_keep_their_end(smollm2, tiny_learned_positions):
    tok, model = smollm2.tokenizer, tiny_learned_positions
    warnings = []
    logp = scoring.next_token_log_probs(model, tok, [LONG], [1, 2], warnings=warnings)
    tail = torch.tensor([scoring.conditioned_ids(tok, LONG)[-32:]])
    with torch.inference_mode():
        expected = torch.log_softmax(model(tail).logits[0, -1], -1)[[1, 2]].numpy()
    np.testing.assert_allclose(logp[0], expected, atol=1e-5)
    texts = scoring.sample_continuations(model, tok, [LONG], max_new_tokens=8, warnings=warnings)
    assert len(texts) == 1 and "kept their end" in warnings[-1]
