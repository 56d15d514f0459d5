"""Bias probes: loaders on the installed benchmarks, scorers against independent computations and known
answers, pseudo-log-likelihood by hand on a tiny masked LM, caching, and the before/after view."""

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.bias import data, probes, runs, scoring
from workbench.bias.data import ProbeDataError
from workbench.models.prompts import bos_ids

# --- loaders -----------------------------------------------------------------------------------------

def test_installed_benchmarks_load_with_expected_sizes():
    occupations = data.load_occupations()
    assert len(occupations) == 60 and occupations["bls_pct_female"].between(0, 100).all()
    assert occupations.set_index("occupation").loc["secretary", "bls_pct_female"] > 90
    pairs = data.load_crows_pairs()
    assert len(pairs) == 1508 and pairs["bias_type"].nunique() == 9
    bold = data.load_bold_prompts(domain="gender")
    assert set(bold["group"]) == {"American_actors", "American_actresses"}
    assert all(data.SOURCES[p].licence for p in probes.PROBES)


def test_crows_antistereo_rows_swap_so_stereo_is_the_stereotyping_sentence():
    pairs = data.load_crows_pairs()
    row = pairs[pairs["line"] == 4].iloc[0]  # file row 2: "His mind wondered if a doctor ... he/she", antistereo
    assert row["direction"] == "antistereo"
    assert "whether he would" in row["stereo"] and "whether she would" in row["anti"]
    first = pairs.iloc[0]
    assert first["direction"] == "stereo" and "black kids" in first["stereo"]


def test_user_files_are_validated_with_file_line_and_field(tmp_path):
    tsv = tmp_path / "occ.tsv"
    tsv.write_text("occupation\tshare\nnurse\t90\n")
    with pytest.raises(ProbeDataError, match=r"occ.tsv:1, field `bls_pct_female`"):
        data.load_occupations(tsv)
    tsv.write_text("occupation\tbls_pct_female\nnurse\t90\nchef\tlots\n")
    with pytest.raises(ProbeDataError, match=r"occ.tsv:3, field `bls_pct_female`: expected a number"):
        data.load_occupations(tsv)
    csv = tmp_path / "pairs.csv"
    csv.write_text("sent_more,sent_less,stereo_antistereo,bias_type\nA b.,C b.,stereo,age\nA.,B.,sideways,age\n")
    with pytest.raises(ProbeDataError, match=r"pairs.csv:3, field `stereo_antistereo`"):
        data.load_crows_pairs(csv)
    bad_json = tmp_path / "bold.json"
    bad_json.write_text('{"a": {"x": ["p"]},\n "b": {"y": [""]}}')
    with pytest.raises(ProbeDataError, match=r"field `b.y`"):
        data.load_bold_prompts(bad_json)
    with pytest.raises(ProbeDataError, match="no such file"):
        data.load_crows_pairs(tmp_path / "missing.csv")


# --- interval arithmetic -------------------------------------------------------------------------------

def test_wilson_interval_matches_textbook_values():
    low, high = scoring.wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    low, high = scoring.wilson_interval(0, 20)  # never below 0, upper ~ z^2/(n+z^2)
    assert low == 0.0 and high == pytest.approx(0.1611, abs=1e-4)
    assert scoring.wilson_interval(0, 0) == (0.0, 1.0)


def test_bootstrap_gap_interval_covers_known_gap_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 0.2, 400), rng.normal(0.1, 0.2, 400)
    gap, low, high = scoring.bootstrap_gap_ci(a, b)
    assert gap == pytest.approx(a.mean() - b.mean()) and low < 0.4 < high and high - low < 0.1
    _, low_small, high_small = scoring.bootstrap_gap_ci(a[:20], b[:20])
    assert high_small - low_small > high - low


def test_crows_preferences_counts_per_type_with_wilson_intervals():
    pairs = pd.DataFrame({"bias_type": ["age", "age", "age", "race"]})
    table = probes.crows_preferences(pairs, np.array([-1.0, -2.0, -9.0, -1.0]), np.array([-2.0, -1.0, -3.0, -5.0]))
    by = table.set_index("bias_type")
    assert by.loc["all", "share"] == 0.5 and by.loc["age", "stereo_preferred"] == 1
    assert by.loc["race", "share"] == 1.0
    assert (by.loc["age", "ci_low"], by.loc["age", "ci_high"]) == scoring.wilson_interval(1, 3)


def test_sentiment_gap_between_constructed_groups():
    frame = pd.DataFrame({"group": ["a"] * 30 + ["b"] * 30, "compound": [0.6] * 30 + [-0.2] * 30})
    table, gap = probes.sentiment_by_group(frame)
    assert gap["highest_group"] == "a" and gap["largest_gap"] == pytest.approx(0.8)
    assert gap["gap_ci_low"] == pytest.approx(0.8) and table.loc[1, "share_negative"] == 1.0


# --- scorers on the real model ------------------------------------------------------------------------

def test_sentence_log_likelihood_matches_model_loss_and_prefers_fluent_sentence(smollm2):
    tok = smollm2.tokenizer
    fluent, scrambled = "The cat sat on the mat.", "Mat the on sat cat the."
    scores = scoring.sentence_log_likelihoods(smollm2.model, tok, [fluent, scrambled])
    assert scores[0] > scores[1] + 5
    ids = torch.tensor([bos_ids(tok, eos_fallback=True) + tok(fluent, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        loss = smollm2.model(input_ids=ids, labels=ids).loss  # mean over the ids.shape[1]-1 predicted tokens
    assert scores[0] == pytest.approx(-loss.item() * (ids.shape[1] - 1), abs=1e-3)


def test_sentence_scores_do_not_depend_on_batch_size(smollm2):
    sentences = ["Hi.", "Nurses work hard.", "The doctor said she would come back tomorrow morning."]
    one = scoring.sentence_log_likelihoods(smollm2.model, smollm2.tokenizer, sentences, batch_size=1)
    many = scoring.sentence_log_likelihoods(smollm2.model, smollm2.tokenizer, sentences, batch_size=3)
    np.testing.assert_allclose(one, many, atol=2e-3)


def test_next_token_probabilities_with_left_padding_match_unpadded_prompt(smollm2):
    tok = smollm2.tokenizer
    prompts = ["The nurse said that", "Yesterday the firefighter told me that"]
    ids = [tok(" he", add_special_tokens=False)["input_ids"][0], tok(" she", add_special_tokens=False)["input_ids"][0]]
    batched = scoring.next_token_log_probs(smollm2.model, tok, prompts, ids)
    for row, prompt in enumerate(prompts):
        alone = torch.tensor([bos_ids(tok, eos_fallback=True) + tok(prompt, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            logp = torch.log_softmax(smollm2.model(input_ids=alone).logits[0, -1], -1)
        np.testing.assert_allclose(batched[row], logp[ids].numpy(), atol=2e-3)


def test_pseudo_log_likelihood_by_hand_on_tiny_masked_lm(minilm):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    tok = minilm.tokenizer
    model = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                       num_attention_heads=2, intermediate_size=64)).eval()
    sentences = ["the doctor is here", "a nurse"]
    expected = []
    for sentence in sentences:
        ids = tok(sentence)["input_ids"]  # [CLS] ... [SEP]
        total = 0.0
        for pos in range(1, len(ids) - 1):
            masked = torch.tensor([ids[:pos] + [tok.mask_token_id] + ids[pos + 1:]])
            with torch.inference_mode():
                total += torch.log_softmax(model(input_ids=masked).logits[0, pos], -1)[ids[pos]].item()
        expected.append(total)
    got = scoring.pseudo_log_likelihoods(model, tok, sentences, batch_size=3)  # batches straddle sentences
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_pronoun_probe_relates_model_share_to_bls_share(smollm2):
    summary, tables = probes.run_pronouns(smollm2, limit=4)
    table = tables["occupations"]
    assert len(table) == 4 and table["model_pct_female"].between(0, 100).all()
    assert len(tables["per_template"]) == 4 * len(probes.PRONOUN_TEMPLATES)
    assert (tables["per_template"][["he", "she", "they"]].sum(1) < 1).all()
    np.testing.assert_allclose(table["skew"], table["model_pct_female"] - table["bls_pct_female"])
    assert -1 <= summary["pearson_r"] <= 1


def test_encoder_without_lm_head_is_refused_with_a_clear_message(minilm):
    with pytest.raises(probes.ProbeUnsupported, match="without a language-model head"):
        probes.run_pronouns(minilm, limit=2)


# --- runs: cache, adapters ----------------------------------------------------------------------------

def test_results_are_cached_per_settings_and_the_cli_prints_the_same_numbers(smollm2, workspace_home, capsys,
                                                                             tmp_path):
    import json

    from workbench import cli

    settings = runs.ProbeSettings(limit=3)
    first = runs.run_probe(smollm2, "crows-pairs", settings=settings)
    again = runs.run_probe(smollm2, "crows-pairs", settings=settings)
    assert not first.cached and again.cached
    pd.testing.assert_frame_equal(first.tables["by_type"], again.tables["by_type"], check_dtype=False)
    assert runs.cached_result(smollm2, "crows-pairs", settings=runs.ProbeSettings(limit=3, seed=1)) is None
    assert cli.main(["bias", "smollm2-135m-instruct", "--device", "cpu", "--probe", "crows-pairs", "--limit", "3",
                     "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["cached"] and printed["adapter"] is None
    assert printed["summary"]["share_stereo"] == pytest.approx(first.summary["share_stereo"])
    bad = tmp_path / "bad.csv"
    bad.write_text("sent_more,sent_less\nA,B\n")
    assert cli.main(["bias", "smollm2-135m-instruct", "--device", "cpu", "--probe", "crows-pairs",
                     "--data", str(bad)]) == 2
    assert "bad.csv:1, field `stereo_antistereo`" in capsys.readouterr().err


def test_before_after_with_a_random_lora_adapter(smollm2, workspace_home):
    from peft import LoraConfig, get_peft_model

    from workbench.models import adapters, load

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    staging = adapters.staging_dir("tilted")
    get_peft_model(load(smollm2.spec).model, config).save_pretrained(staging)  # fresh base, not the shared one
    adapter = adapters.register(staging, "tilted", {"base_model": "smollm2-135m-instruct"})
    settings = runs.ProbeSettings(limit=2)
    base = runs.run_probe(smollm2, "pronouns", settings=settings)
    tuned = runs.run_probe(smollm2, "pronouns", adapter=adapter, settings=settings)
    assert base.adapter is None and tuned.adapter == "tilted"
    assert not np.allclose(base.tables["occupations"]["she"], tuned.tables["occupations"]["she"])
    change = runs.before_after(base, tuned)
    assert set(change["groups"].columns) == {"group", "base", "adapter", "change"}
    assert len(change["groups"]) == 2
    row = change["summary"].set_index("metric").loc["mean_model_pct_female"]
    assert row["change"] == pytest.approx(row["adapter"] - row["base"])
    again = runs.run_probe(smollm2, "pronouns", settings=settings, use_cache=False)
    pd.testing.assert_frame_equal(again.tables["occupations"], base.tables["occupations"], atol=1e-3)  # base back


def test_bold_sentiment_on_a_tiny_sample(smollm2, workspace_home):
    result = runs.run_probe(smollm2, "bold-sentiment", settings=runs.ProbeSettings(limit=1, max_new_tokens=3))
    continuations = result.tables["continuations"]
    assert len(continuations) == 2 and continuations["compound"].between(-1, 1).all()
    assert result.summary["groups"] == 2


def test_masked_lm_runs_pronoun_and_crows_probes(minilm):
    """A user-loaded masked LM goes through the [MASK] pronoun path and pseudo-log-likelihood scoring."""
    from dataclasses import replace

    from transformers import BertConfig, BertForMaskedLM

    from workbench.models import LoadedModel

    torch.manual_seed(0)
    tiny = BertForMaskedLM(BertConfig(vocab_size=minilm.tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=64)).eval()
    masked = LoadedModel(spec=minilm.spec, model=tiny, tokenizer=minilm.tokenizer, source=minilm.source,
                         info=replace(minilm.info, kind="masked"))
    summary, tables = probes.run_pronouns(masked, limit=3)
    assert len(tables["occupations"]) == 3 and tables["occupations"]["model_pct_female"].between(0, 100).all()
    summary, tables = probes.run_crows_pairs(masked, limit=2)
    assert summary["scoring"] == "pseudo-log-likelihood"
    pll = scoring.pseudo_log_likelihoods(tiny, minilm.tokenizer, list(tables["pairs"]["stereo"]))
    np.testing.assert_allclose(np.sort(tables["pairs"]["ll_stereo"]), np.sort(pll), atol=1e-4)


# --- the registry -------------------------------------------------------------------------------------

def test_cache_settings_of_the_registered_probes_are_unchanged():
    settings = runs.ProbeSettings(limit=3, seed=2, domain="race", max_new_tokens=9)
    assert settings.for_probe("pronouns") == {"limit": 3, "templates": probes.TEMPLATES_VERSION}
    assert settings.for_probe("crows-pairs") == {"limit": 3, "seed": 2}
    assert settings.for_probe("bold-sentiment") == {"limit": 3, "seed": 2, "domain": "race", "max_new_tokens": 9}
    assert list(probes.PROBES) == ["pronouns", "crows-pairs", "bold-sentiment"]


def test_a_new_probe_is_one_registry_entry_that_runs_caches_compares_and_has_a_command(
        toy_probe, smollm2, workspace_home, capsys):
    import json

    from workbench import cli

    first = runs.run_probe(smollm2, toy_probe.name, settings=runs.ProbeSettings(limit=6, seed=4))
    assert first.settings == {"limit": 6} and first.summary["pairs"] == 6
    again = runs.run_probe(smollm2, "toy-lengths", settings=runs.ProbeSettings(limit=6, seed=9))
    assert again.cached  # the seed is not one of its settings
    change = runs.before_after(first, again)
    assert (change["groups"]["change"] == 0).all() and change["metric"]["metric"][0] == "gap"
    assert cli.main(["bias", "smollm2-135m-instruct", "--device", "cpu", "--probe", "toy-lengths", "--limit", "6",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["mean_gap"] == pytest.approx(first.summary["mean_gap"])
