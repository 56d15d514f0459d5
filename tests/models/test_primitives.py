"""Model primitives on the real embedded models: prompts (chat template, BOS, token labels), batching, and
`sequence_logprobs` against a plain forward pass, across batch sizes and pads.

The tests marked EQUIVALENCE compare each primitive with the implementation it replaces; rewrite them (against
a plain forward pass or a fixed value) when the old implementation is deleted."""

import numpy as np
import pytest
import torch

from workbench.errors import InvalidSetting
from workbench.models import batching, prompts, scoring
from workbench.models.prompts import NoChatTemplate

SENTENCES = ["Hi.", "Nurses work hard.", "The doctor said she would come back tomorrow morning.",
             "Paris is the capital of France, and Berlin is the capital of Germany.", "Yes"]


def _sequences(tok) -> list[list[int]]:
    return [prompts.text_ids(tok, s, prefix=prompts.bos_ids(tok)) for s in SENTENCES]


def _plain_logprobs(model, ids: list[int], score_from: int) -> np.ndarray:
    """The reference: one unpadded forward pass, full log-softmax, the next token picked out."""
    x = torch.tensor([ids])
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=x).logits[0].float(), dim=-1)  # (T, V)
    return logp[score_from - 1:-1].gather(1, x[0, score_from:, None])[:, 0].double().numpy()


# ---------------------------------------------------------------- sequence_logprobs

def test_sequence_logprobs_equal_a_plain_forward_pass_with_log_softmax(smollm2):
    seqs = _sequences(smollm2.tokenizer)
    starts = [1, 2, 5, 3, 1]
    got = scoring.sequence_logprobs(smollm2.model, seqs, starts, batch_size=8, pad_id=2)
    for seq, start, values in zip(seqs, starts, got):
        assert values.shape == (len(seq) - start,) and values.dtype == np.float64
        np.testing.assert_allclose(values, _plain_logprobs(smollm2.model, seq, start), atol=1e-4)


def test_sequence_logprobs_do_not_depend_on_batch_size(smollm2):
    seqs = _sequences(smollm2.tokenizer)
    one = scoring.sequence_logprobs(smollm2.model, seqs, batch_size=1)
    for size in (2, 3, len(seqs)):
        many = scoring.sequence_logprobs(smollm2.model, seqs, batch_size=size)
        for a, b in zip(one, many):
            np.testing.assert_allclose(a, b, atol=1e-4)


def test_padding_is_never_scored_whatever_the_pad_id(smollm2):
    seqs = _sequences(smollm2.tokenizer)
    with_eos = scoring.sequence_logprobs(smollm2.model, seqs, batch_size=len(seqs), pad_id=2)
    with_other = scoring.sequence_logprobs(smollm2.model, seqs, batch_size=len(seqs), pad_id=12345)
    for seq, a, b in zip(seqs, with_eos, with_other):
        assert len(a) == len(seq) - 1  # one value per real token after the first, none for pads
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_nothing_to_score_gives_an_empty_array_and_position_zero_cannot_be_scored(smollm2):
    seqs = _sequences(smollm2.tokenizer)
    got = scoring.sequence_logprobs(smollm2.model, seqs, [len(s) for s in seqs])
    assert [len(g) for g in got] == [0] * len(seqs)
    assert scoring.sequence_logprobs(smollm2.model, []) == []
    with pytest.raises(ValueError, match="at least 1"):
        scoring.sequence_logprobs(smollm2.model, seqs, 0)
    with pytest.raises(ValueError, match="entries"):
        scoring.sequence_logprobs(smollm2.model, seqs, [1, 2])


def test_sequence_logprobs_report_progress_per_batch(smollm2):
    seen = []
    scoring.sequence_logprobs(smollm2.model, _sequences(smollm2.tokenizer), batch_size=2,
                              progress=lambda f, msg: seen.append((f, msg)))
    assert seen == [(0.4, "scored 2/5"), (0.8, "scored 4/5"), (1.0, "scored 5/5")]


def test_next_token_logits_equal_the_models_own_logits(smollm2):
    ids = _sequences(smollm2.tokenizer)[2]
    with torch.inference_mode():
        full = smollm2.model(input_ids=torch.tensor([ids])).logits[0].float()  # (T, V)
    torch.testing.assert_close(scoring.next_token_logits(smollm2.model, ids), full, atol=1e-4, rtol=0)
    last = scoring.next_token_logits(smollm2.model, ids, start=len(ids) - 1)
    assert last.shape == (1, full.shape[1]) and last.dtype == torch.float32
    torch.testing.assert_close(last, full[-1:], atol=1e-4, rtol=0)


def test_soft_capped_logits_match_the_models_forward_on_a_tiny_gemma2():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=8, final_logit_softcapping=2.0,
                          attn_implementation="eager")
    model = Gemma2ForCausalLM(config).eval()
    seqs = [[2, 5, 9, 11, 40], [2, 7, 3]]
    got = scoring.sequence_logprobs(model, seqs, batch_size=2)
    for seq, values in zip(seqs, got):
        np.testing.assert_allclose(values, _plain_logprobs(model, seq, 1), atol=1e-5)


# ---------------------------------------------------------------- batching

def test_left_and_right_padding_put_the_pads_on_their_side():
    ids, mask = batching.left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batching.position_ids(mask).tolist() == [[0, 1, 2], [0, 0, 0]]
    ids, mask = batching.right_pad([[5, 6, 7], [8]], pad_id=9)
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long


def test_length_batches_sort_by_length_and_cover_every_index_once():
    lengths = [5, 2, 9, 2, 7]
    assert batching.length_batches(lengths, 2) == [[1, 3], [0, 4], [2]]
    assert batching.length_batches(lengths, 2, longest_first=True) == [[2, 4], [0, 1], [3]]
    assert batching.chunks("abcde", 2) == [["a", "b"], ["c", "d"], ["e"]]
    with pytest.raises(ValueError):
        batching.chunks([1], 0)


def test_padding_id_falls_back_to_eos_then_zero(smollm2, minilm):
    assert batching.padding_id(smollm2.tokenizer) == smollm2.tokenizer.pad_token_id == 2
    assert batching.padding_id(minilm.tokenizer) == minilm.tokenizer.pad_token_id

    class NoPad:
        pad_token_id, eos_token_id = None, 7

    assert batching.padding_id(NoPad()) == 7
    NoPad.eos_token_id = None
    assert batching.padding_id(NoPad()) == 0


# ---------------------------------------------------------------- prompts

def test_chat_prompt_wraps_in_the_template_and_refuses_a_model_without_one(smollm2, minilm):
    text = prompts.chat_prompt(smollm2, "Hi", system="Be brief.")
    assert text == smollm2.tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], tokenize=False,
        add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    with pytest.raises(NoChatTemplate, match="minilm-l6 has no chat template; turn chat off") as err:
        prompts.chat_prompt(minilm, "Hi")
    assert isinstance(err.value, InvalidSetting) and err.value.field == "chat"


def test_bos_and_text_ids(smollm2):
    tok = smollm2.tokenizer
    assert prompts.bos_ids(tok) == [1]  # SmolLM2's BOS is <|im_start|>, which its tokenizer never adds itself
    assert prompts.text_ids(tok, "Hello world") == tok("Hello world")["input_ids"]
    assert prompts.text_ids(tok, "Hello world", prefix=[1]) == [1] + tok("Hello world")["input_ids"]

    class EosOnly:
        bos_token_id, eos_token_id = None, 50256

    assert prompts.bos_ids(EosOnly()) == [] and prompts.bos_ids(EosOnly(), eos_fallback=True) == [50256]


def test_token_labels_show_blanks_only_where_a_piece_has_them(smollm2):
    tok = smollm2.tokenizer
    ids = tok(" a\n\nb  c", add_special_tokens=False)["input_ids"]  # pieces: " a", "\n", "\n", "b", " ", " c"
    assert prompts.token_labels(tok, ids) == ["␣a", "\\n", "\\n", "b", "␣", "␣c"]
    assert prompts.token_label("") == "" and prompts.token_label("cat") == "cat"


# ---------------------------------------------------------------- EQUIVALENCE with the code each primitive replaces

def test_bias_sentence_log_likelihoods_equal_plain_forward_passes_after_bos(smollm2):
    from workbench.bias import scoring as bias_scoring

    tok = smollm2.tokenizer
    mine = bias_scoring.sentence_log_likelihoods(smollm2.model, tok, SENTENCES, batch_size=2)
    plain = [_plain_logprobs(smollm2.model, [tok.bos_token_id] + tok(s, add_special_tokens=False)["input_ids"], 1)
             for s in SENTENCES]
    np.testing.assert_allclose(mine, [v.sum() for v in plain], atol=1e-3)


def test_evaluate_window_nll_equals_plain_forward_passes_per_window(smollm2):
    from workbench.evaluate import metrics

    tok = smollm2.tokenizer
    ids = prompts.text_ids(tok, " ".join(SENTENCES) * 3, prefix=prompts.bos_ids(tok))
    segments = metrics.segments_for(ids, 1, 0, window=24, stride=12, keep_first=True)
    segments += metrics.segments_for(_sequences(tok)[2], 4, 1, window=64, stride=32)
    nll, count = metrics.example_nll(smollm2.model, segments, 2, batch_size=3, pad_id=2)
    for example in (0, 1):
        plain = [_plain_logprobs(smollm2.model, list(s.ids), s.score_from) for s in segments if s.example == example]
        assert sum(len(v) for v in plain) == count[example]
        assert -sum(v.sum() for v in plain) == pytest.approx(nll[example], abs=1e-3)


def test_continuation_logprobs_as_compare_scores_them_equal_a_plain_forward_pass(smollm2):
    prompt, tokens = _sequences(smollm2.tokenizer)[2][:6], _sequences(smollm2.tokenizer)[2][6:]
    (scored,) = scoring.sequence_logprobs(smollm2.model, [prompt + tokens], len(prompt))
    np.testing.assert_allclose(scored, _plain_logprobs(smollm2.model, prompt + tokens, len(prompt)), atol=1e-4)


def test_token_views_probabilities_and_prompt_perplexity_match_a_plain_forward_pass(smollm2):
    from workbench.prompt_lab import token_views

    ids = _sequences(smollm2.tokenizer)[3]
    prompt, new = ids[:8], ids[8:]
    torch.testing.assert_close(scoring.next_token_logits(smollm2.model, ids, start=3),
                               smollm2.model(input_ids=torch.tensor([ids])).logits[0, 3:].float().detach(),
                               atol=1e-4, rtol=0)
    view = token_views.token_probabilities(smollm2, prompt, new)
    prompt_logp = _plain_logprobs(smollm2.model, prompt, 1)
    assert float(np.exp(-prompt_logp.mean())) == pytest.approx(view.prompt_perplexity, rel=1e-5)
    np.testing.assert_allclose([t.logprob for t in view.tokens], _plain_logprobs(smollm2.model, ids, len(prompt)),
                               atol=1e-4)


def test_equivalence_chat_wrappers_and_bos(smollm2, minilm):
    from workbench.evaluate.run import EvalOptions, condition_ids, prompt_ids
    from workbench.prompt_lab.generation import format_prompt

    tok = smollm2.tokenizer
    assert format_prompt(smollm2, "Hi", chat=True, system="Be brief.") == prompts.chat_prompt(
        smollm2, "Hi", system="Be brief.")
    template = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt_ids(smollm2, "Hi", EvalOptions(chat=True)) == tok(template, add_special_tokens=False)["input_ids"]
    assert prompt_ids(smollm2, "Hi", EvalOptions()) == [tok.bos_token_id] + tok("Hi", add_special_tokens=False)[
        "input_ids"]
    assert condition_ids(smollm2, EvalOptions()) == [tok.bos_token_id]
    assert condition_ids(smollm2, EvalOptions(add_bos=False)) == []
    for old in (lambda: format_prompt(minilm, "Hi", chat=True),
                lambda: prompt_ids(minilm, "Hi", EvalOptions(chat=True))):
        with pytest.raises(InvalidSetting) as err:
            old()
        with pytest.raises(NoChatTemplate) as mine:
            prompts.chat_prompt(minilm, "Hi")
        assert str(err.value) == str(mine.value)


def test_decode_pads_on_the_left_and_attention_labels_tokens_with_the_shared_scheme(smollm2):
    from workbench.attention.capture import capture_attention
    from workbench.prompt_lab.decoding import SamplingParams, decode

    seqs = _sequences(smollm2.tokenizer)[:2]
    ids, mask = batching.left_pad(seqs, 2)
    with torch.inference_mode():  # a left-padded row decodes as it would alone
        batched = torch.stack(list(decode(smollm2, ids, mask, SamplingParams(max_new_tokens=3))), 1)
        alone = torch.stack(list(decode(smollm2, *batching.left_pad(seqs[:1], 2), SamplingParams(max_new_tokens=3))), 1)
    assert batched[0].tolist() == alone[0].tolist()
    text = " a\n\nb  c  Hello\tworld \n"
    pieces = [smollm2.tokenizer.decode([i]) for i in smollm2.tokenizer(text, add_special_tokens=False)["input_ids"]]
    expected = [p if p.strip() == p and p else p.replace("\n", "\\n").replace(" ", "␣") for p in pieces]
    assert capture_attention(smollm2, text, [0]).tokens == expected
