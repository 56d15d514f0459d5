"""Evaluation metrics and sets without a model: sacreBLEU/rouge-score agreement, bootstrap, windows, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from workbench import workspace
from workbench.evaluate import history as eval_history
from workbench.evaluate import metrics as m
from workbench.evaluate.run import EvalOptions, EvaluationReport, ModelResult
from workbench.evaluate.sets import EvalSetError, check_metrics, parse_eval_set, read_eval_set

HYPS = ["the cat sat on the mat", "hello there general kenobi", "Paris", "a quick brown dog jumps",
        "It is 2011-01-11.", ""]
REFS = ["the cat is on the mat", "hello there", "paris", "the quick brown fox jumps over the lazy dog",
        "2011-01-11", "nothing"]


def _stats(metrics):
    """Each score's corpus statistic and a per-example table, through the registry as evaluate() runs it."""
    scores = m.compute_scores(metrics, m.MetricInputs(outputs=HYPS, references=REFS))
    table = pd.DataFrame({key: per_example for key, (_, per_example) in scores.items()})
    return {key: stat for key, (stat, _) in scores.items()}, table


def test_bleu_and_chrf_equal_sacrebleu_corpus_scores():
    stats, table = _stats(["bleu", "chrf"])
    assert stats["bleu"].value() == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
    assert stats["chrf"].value() == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)
    assert table["bleu"][0] == pytest.approx(sacrebleu.sentence_bleu(HYPS[0], [REFS[0]]).score)
    assert table["chrf"][1] == pytest.approx(sacrebleu.sentence_chrf(HYPS[1], [REFS[1]]).score)
    counts = m.resample_counts(len(HYPS), 20, seed=1)  # every bootstrap replicate is sacreBLEU on that resample
    for row in counts[:5]:
        picked = np.repeat(np.arange(len(HYPS)), row.astype(int))
        hyps, refs = [HYPS[i] for i in picked], [REFS[i] for i in picked]
        assert stats["bleu"].score(row @ stats["bleu"].rows)[0] == pytest.approx(
            sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
        assert stats["chrf"].score(row @ stats["chrf"].rows)[0] == pytest.approx(
            sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)


def test_rouge_equals_rouge_score_mean_f1():
    stats, _ = _stats(["rouge"])
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    for key in ("rouge1", "rouge2", "rougeL"):
        expected = np.mean([scorer.score(r, h)[key].fmeasure for h, r in zip(HYPS, REFS)])
        assert stats[key].value() == pytest.approx(expected, abs=1e-12)


def test_exact_match_normalises_case_punctuation_and_spaces():
    assert m.exact_match("  Paris. ", "paris") == 1.0
    assert m.exact_match("Merci  beaucoup!", "merci beaucoup") == 1.0
    assert m.exact_match("2011-01-11", "2011 01 11") == 1.0  # hyphens are punctuation
    assert m.exact_match("Paris, France", "Paris") == 0.0
    stats, table = _stats(["exact_match"])
    assert table["exact_match"].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert stats["exact_match"].value() == pytest.approx(1 / 6)


def test_bootstrap_interval_brackets_the_score_and_paired_difference_of_a_model_with_itself_is_zero():
    stats, _ = _stats(["bleu", "exact_match"])
    counts = m.resample_counts(len(HYPS), 500, seed=0)
    for stat in stats.values():
        low, high = m.bootstrap_interval(stat, counts)
        assert low <= stat.value() <= high
        assert m.paired_bootstrap(stat, stat, counts) == (0.0, 0.0, 0.0)


def test_perplexity_is_token_weighted():
    scores = m.compute_scores(["perplexity"], m.MetricInputs(nll=np.array([10.0, 1.0]), tokens=np.array([10, 1])))
    stat, per_example = scores["perplexity"]
    assert stat.value() == pytest.approx(np.e)  # exp(11 / 11), not the mean of per-example perplexities
    np.testing.assert_allclose(per_example, [np.e, np.e])


def test_the_registry_declares_each_metric_once_for_every_reader():
    assert list(m.METRICS) == ["perplexity", "bleu", "chrf", "rouge", "exact_match"]
    assert [x.name for x in m.METRICS.values() if x.needs_reference] == ["bleu", "chrf", "rouge", "exact_match"]
    assert m.score_label("rougeL") == "ROUGE-L F1" and m.score_label("perplexity") == "perplexity ↓"
    assert not m.higher_is_better("perplexity") and m.higher_is_better("rouge2")
    assert m.METRICS["rouge"].compute is m.rouge  # the decorator registers the function and returns it unchanged
    assert m.METRICS["exact_match"].compute is m.exact_match_metric
    with pytest.raises(ValueError, match="already registered"):
        m.register_metric(name="bleu", higher_is_better=True, needs_reference=True, label="BLEU")(lambda x: {})


def test_sliding_windows_score_every_token_exactly_once():
    ids = list(range(1000))  # token value == position
    for window, stride, keep_first in [(128, 64, False), (100, 99, False), (64, 1, True), (300, 37, True),
                                       (100, 98, True)]:
        segments = m.segments_for(ids, 1, 0, window, stride, keep_first=keep_first)
        scored = []
        for seg in segments:
            assert len(seg.ids) <= window
            assert not keep_first or seg.ids[0] == 0  # every window starts with the BOS
            scored += list(seg.ids[seg.score_from:])
        assert scored == list(range(1, 1000))
    with pytest.raises(ValueError):
        m.segments_for(ids, 1, 0, 100, 100)
    prompt_only = m.segments_for(list(range(50)), 30, 0, 20, 10)
    assert sum(len(s.ids) - s.score_from for s in prompt_only) == 20


@pytest.mark.parametrize("content, name, message", [
    ("", "empty.jsonl", "empty.jsonl: the evaluation set is empty"),
    ('{"prompt": "a", "reference": "b"}\n{"prompt": "c", "reference": ', "bad.jsonl", "bad.jsonl:2: not valid JSON"),
    ('{"prompt": "a", "reference": "b"}\n\n{"question": "c"}\n', "f.jsonl", "f.jsonl:3, field `prompt`: missing"),
    ('{"prompt": 3, "reference": "b"}\n', "f.jsonl", "f.jsonl:1, field `prompt`: must be a string"),
    ('{"text": "a"}\n{"prompt": "b", "reference": "c"}\n', "f.jsonl", "f.jsonl:1, field `text`: mixes"),
    ("\n\n   \n", "blank.txt", "blank.txt: the evaluation set is empty"),
    ("a,b\n", "set.csv", "set.csv: unsupported file type '.csv'"),
])
def test_bad_sets_name_file_line_and_field(content, name, message):
    with pytest.raises(EvalSetError) as err:
        parse_eval_set(content, name)
    assert str(err.value).startswith(message)


def test_reference_metric_without_reference_names_the_row():
    data = parse_eval_set('{"prompt": "a", "reference": "b"}\n{"prompt": "c"}\n', "qa.jsonl")
    with pytest.raises(EvalSetError, match=r"qa.jsonl:2, field `reference`: bleu needs a reference"):
        check_metrics(data, ["perplexity", "bleu"])
    texts = parse_eval_set("one text\n\nanother\n", "t.txt")
    assert [e.line for e in texts.examples] == [1, 3]
    with pytest.raises(EvalSetError, match=r"t.txt:1, field `reference`: rouge compares"):
        check_metrics(texts, ["rouge"])
    with pytest.raises(EvalSetError, match="unknown metric 'bleurt'"):
        check_metrics(texts, ["bleurt"])


def test_bundled_sets_are_valid():
    facts = read_eval_set(workspace.data_dir() / "eval_facts.jsonl")
    check_metrics(facts, list(m.METRICS))
    text = read_eval_set(workspace.data_dir() / "eval_text.txt")
    check_metrics(text, ["perplexity"])
    assert text.kind == "text" and max(len(e.text) for e in text.examples) > 1200  # the sliding-window one


def test_history_saves_lists_and_exports(workspace_home):
    data = parse_eval_set("\n".join(json.dumps({"prompt": f"q{i}", "reference": r}) for i, r in enumerate(REFS)),
                          "toy.jsonl")
    stats, table = _stats(["bleu", "exact_match"])
    counts = m.resample_counts(len(HYPS), 100, 0)
    result = ModelResult("base", None, {k: s.value() for k, s in stats.items()},
                         {k: m.bootstrap_interval(s, counts) for k, s in stats.items()}, table, stats)
    report = EvaluationReport(data, ["bleu", "exact_match"], EvalOptions(), "smollm2-135m-instruct", [result],
                              pd.DataFrame())
    run_id = eval_history.save_run(report)
    runs = eval_history.list_runs()
    assert runs.iloc[0]["run_id"] == run_id and runs.iloc[0]["models"] == "base"
    scores = eval_history.run_scores([run_id])
    assert set(scores["key"]) == {"bleu", "exact_match"}
    csv = eval_history.export_table(scores, "csv")
    assert csv.splitlines()[0] == ",".join(eval_history.SCORE_COLUMNS)
    assert json.loads(eval_history.export_table(scores, "json"))[0]["run_id"] == run_id
    assert len(eval_history.run_examples(run_id)["base"]) == len(HYPS)
