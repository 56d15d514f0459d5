"""evaluate() on the real SmolLM2: perplexity against raw logits, sliding windows, batch-size independence,
several adapters over one base, cancelling, and the `workbench eval` command."""

import json

import numpy as np
import pytest
import torch

from workbench import cli, workspace
from workbench.evaluate import figures
from workbench.evaluate import metrics as m
from workbench.evaluate.run import EvalOptions, EvaluationCancelled, evaluate, evaluate_models
from workbench.evaluate.sets import parse_eval_set, read_eval_set
from workbench.models import adapters

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Water boils at one hundred degrees.",
         "A long time ago, in a quiet village by the sea, there lived an old fisherman and his cat."]


def make_random_adapters(loaded, names, rank=4):
    """Real LoRA adapters with non-zero B (so they change the output), made on one fresh base (the shared
    one carries injected layers) and registered in the current workspace."""
    from peft import LoraConfig, get_peft_model

    from workbench.models import load

    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")
    peft_model = get_peft_model(load(loaded.spec).model, config)
    made = []
    for seed, name in enumerate(names):
        torch.manual_seed(seed)
        for n, p in peft_model.named_parameters():
            if "lora_" in n:
                torch.nn.init.normal_(p, std=0.02)
        staging = adapters.staging_dir(name)
        peft_model.save_pretrained(staging)
        made.append(adapters.register(staging, name, {"base_model": loaded.info.name}))
    return made


def _text_set(texts):
    return parse_eval_set("\n".join(json.dumps({"text": t}) for t in texts), "texts.jsonl")


def _reference_perplexity(loaded, texts):
    """exp(mean token NLL) from full-vocabulary logits, one text at a time, BOS first, no padding anywhere."""
    tok = loaded.tokenizer
    total, count = 0.0, 0
    for text in texts:
        ids = torch.tensor([[tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            logits = loaded.model(ids).logits[0]  # (T, V)
        nll = torch.nn.functional.cross_entropy(logits[:-1].double(), ids[0, 1:], reduction="sum")
        total, count = total + float(nll), count + ids.shape[1] - 1
    return float(np.exp(total / count))


def test_perplexity_equals_exp_mean_nll_from_raw_logits_with_padding_in_batch(smollm2):
    result = evaluate(smollm2, None, _text_set(TEXTS), ["perplexity"], EvalOptions(batch_size=3, resamples=50))
    assert result.scores["perplexity"] == pytest.approx(_reference_perplexity(smollm2, TEXTS), rel=1e-4)  # float32
    tok = smollm2.tokenizer
    assert result.tokens_scored == sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in TEXTS)


def test_sliding_window_on_long_text_is_within_one_percent_of_direct(smollm2):
    long = read_eval_set(workspace.data_dir() / "eval_text.txt").examples[-1].text  # ~275 tokens
    data = _text_set([long])
    direct = evaluate(smollm2, None, data, ["perplexity"], EvalOptions(resamples=50))
    windowed = evaluate(smollm2, None, data, ["perplexity"], EvalOptions(window=240, stride=24, resamples=50))
    assert windowed.tokens_scored == direct.tokens_scored > 240
    assert windowed.scores["perplexity"] == pytest.approx(direct.scores["perplexity"], rel=0.01)


def test_scores_do_not_depend_on_batch_size(smollm2):
    rows = [json.loads(line) for line in (workspace.data_dir() / "eval_facts.jsonl").read_text().splitlines()[-4:]]
    data = parse_eval_set("\n".join(json.dumps(r) for r in rows), "facts.jsonl")
    metrics = ["perplexity", "exact_match"]
    one = evaluate(smollm2, None, data, metrics, EvalOptions(batch_size=1, max_new_tokens=4, resamples=50))
    eight = evaluate(smollm2, None, data, metrics, EvalOptions(batch_size=8, max_new_tokens=4, resamples=50))
    np.testing.assert_allclose(one.per_example["nll"], eight.per_example["nll"], rtol=1e-4)
    assert one.per_example["output"].tolist() == eight.per_example["output"].tolist()
    for key in metrics:
        assert one.scores[key] == pytest.approx(eight.scores[key], rel=1e-4)


def test_a_new_metric_is_one_decorated_function_that_evaluate_runs(smollm2):
    @m.register_metric(name="answer_words", higher_is_better=True, needs_reference=True, label="words per answer")
    def answer_words(inputs: m.MetricInputs) -> dict[str, m.Scores]:
        return {"answer_words": m.example_means([len(o.split()) for o in inputs.outputs])}

    assert m.METRICS["answer_words"].compute is answer_words
    try:
        rows = (workspace.data_dir() / "eval_facts.jsonl").read_text().splitlines()[:3]
        data = parse_eval_set("\n".join(rows), "facts.jsonl")
        result = evaluate(smollm2, None, data, ["answer_words"], EvalOptions(max_new_tokens=6, resamples=50))
        words = [len(o.split()) for o in result.per_example["output"]]
        assert result.per_example["answer_words"].tolist() == words
        assert result.scores["answer_words"] == pytest.approx(np.mean(words))
        low, high = result.intervals["answer_words"]
        assert low <= np.mean(words) <= high
        assert "perplexity" not in result.scores and result.tokens_scored == 0  # no log-prob pass was run
        fig = figures.score_bars(figures.scores_table([result]))
        assert [a.text for a in fig.layout.annotations] == ["words per answer"]
    finally:
        m.unregister_metric("answer_words")
    assert "answer_words" not in m.METRICS


def test_several_adapters_over_one_base_with_paired_differences(smollm2, workspace_home):
    a1, a2 = make_random_adapters(smollm2, ["eval-a1", "eval-a2"])
    model_before = smollm2.model
    data = _text_set(TEXTS[:2])
    report = evaluate_models(smollm2, [None, a1, a2.path], data, ["perplexity"], EvalOptions(resamples=200))
    assert [r.label for r in report.results] == ["base", "eval-a1", "eval-a2"]
    ppl = [r.scores["perplexity"] for r in report.results]
    assert len({round(p, 4) for p in ppl}) == 3
    assert smollm2.model is model_before  # switched, never reloaded
    assert ppl[0] == pytest.approx(_reference_perplexity(smollm2, TEXTS[:2]), rel=1e-4)  # base restored
    diffs = report.comparisons.set_index("model")
    assert diffs.loc["eval-a1", "difference"] == pytest.approx(ppl[1] - ppl[0])
    assert diffs.loc["eval-a1", "low"] <= diffs.loc["eval-a1", "difference"] <= diffs.loc["eval-a1", "high"]
    assert diffs.loc["eval-a1", "better"] == (ppl[1] < ppl[0])  # perplexity: lower is better


def test_cancel_stops_the_evaluation_and_leaves_the_base_active(smollm2):
    data = _text_set(TEXTS)
    with pytest.raises(EvaluationCancelled, match="cancelled while evaluating base"):
        evaluate(smollm2, None, data, ["perplexity"], EvalOptions(batch_size=1), should_stop=lambda: True)


def test_eval_command_prints_one_json_object_per_model(tmp_path, capsys, workspace_home):
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": f"Question: What is {a} plus {b}?\nAnswer:",
                                          "reference": str(a + b)}) for a, b in [(1, 1), (2, 3)]))
    code = cli.main(["eval", "smollm2-135m-instruct", str(data), "--device", "cpu", "--metrics",
                     "perplexity,bleu,chrf,rouge,exact_match", "--max-new-tokens", "4", "--json", "--per-example"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    for key in ("perplexity", "bleu", "chrf", "rouge1", "rouge2", "rougeL", "exact_match"):
        assert key in obj
    assert obj["n_examples"] == 2 and len(obj["examples"]) == 2 and 0 <= obj["exact_match"] <= 1


def test_eval_command_rejects_missing_reference_before_loading(tmp_path, capsys):
    data = tmp_path / "qa.jsonl"
    data.write_text('{"prompt": "a", "reference": "b"}\n{"prompt": "c"}\n')
    assert cli.main(["eval", "smollm2-135m-instruct", str(data), "--metrics", "bleu"]) == 2
    assert f"{data}:2, field `reference`: bleu needs a reference" in capsys.readouterr().err


def _short_context(loaded, tokens):
    """The same weights and tokenizer, described with a `tokens`-long context (as a model whose position
    table ends there)."""
    from dataclasses import replace

    from workbench.models import LoadedModel

    return LoadedModel(spec=loaded.spec, model=loaded.model, tokenizer=loaded.tokenizer, source=loaded.source,
                       info=replace(loaded.info, context_length=tokens))


def _fake_adapter(name):
    """A registered adapter folder with PEFT's file names: enough to be listed and picked, never applied."""
    folder = workspace.subdir("adapters") / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "smollm2-135m-instruct"}))
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return adapters.read_adapter(folder)


def test_same_adapter_picked_twice_is_refused_before_anything_runs(smollm2, workspace_home):
    from workbench.errors import InvalidSetting

    info = _fake_adapter("twice")
    ran = []
    for chosen in ([None, info, info], [info, info.path]):
        with pytest.raises(InvalidSetting, match="the adapter `twice` is chosen twice"):
            evaluate_models(smollm2, chosen, _text_set(TEXTS[:1]), ["perplexity"],
                            progress=lambda f, msg: ran.append(msg))
    with pytest.raises(InvalidSetting, match="named `base`, like the base model"):
        evaluate_models(smollm2, [None, _fake_adapter("base")], _text_set(TEXTS[:1]), ["perplexity"],
                        progress=lambda f, msg: ran.append(msg))
    assert ran == []


def test_perplexity_window_longer_than_the_context_is_clamped_with_a_warning(smollm2):
    data = _text_set([" ".join(TEXTS * 4)])  # ~110 tokens
    short = _short_context(smollm2, 48)
    got = evaluate(short, None, data, ["perplexity"], EvalOptions(window=200, resamples=10))
    direct = evaluate(smollm2, None, data, ["perplexity"], EvalOptions(window=48, resamples=10))
    assert got.scores["perplexity"] == pytest.approx(direct.scores["perplexity"], rel=1e-6)
    assert got.warnings == ["perplexity window 200 is longer than the model's 48-token context; used 48"]
    assert got.summary()["warnings"] == got.warnings and direct.warnings == []


def test_evaluation_prompts_longer_than_the_context_keep_their_end_with_a_warning(smollm2):
    long_prompt = " ".join(TEXTS * 3) + " Answer in one word: what colour is the sky?"
    data = parse_eval_set(json.dumps({"prompt": long_prompt, "reference": "blue"}), "q.jsonl")
    report = evaluate_models(_short_context(smollm2, 40), [None], data, ["exact_match"],
                             EvalOptions(max_new_tokens=30, resamples=10))
    assert report.warnings == [
        "answers cut to 20 new tokens, half the model's 40-token context",
        "1 prompts longer than 20 tokens (the 40-token context less 20 for the answer) keep only their last tokens"]
    assert len(report.results[0].per_example["output"]) == 1
