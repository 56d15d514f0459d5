"""Held-out scores: exact match of greedy answers on SmolLM2, classification accuracy on MiniLM."""

import json

import pytest
import torch

from workbench.finetune import heldout
from workbench.finetune.data import DataError

PROMPTS = ["The capital of France is", "Two plus two equals"]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _one_by_one(loaded, prompt, new=6):
    """Greedy answer of one unpadded prompt, the independent reference for the batched path."""
    ids = loaded.tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = loaded.model.generate(ids, max_new_tokens=new, do_sample=False,
                                    pad_token_id=loaded.tokenizer.eos_token_id)
    return loaded.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def test_batched_greedy_answers_equal_one_by_one_answers(smollm2):
    batched = heldout.greedy_answers(smollm2, PROMPTS, max_new_tokens=6, batch_size=2)
    assert batched == [_one_by_one(smollm2, p) for p in PROMPTS]


def test_exact_match_normalises_case_punctuation_and_spaces(smollm2, tmp_path):
    answers = [heldout.first_line(_one_by_one(smollm2, p)) for p in PROMPTS]
    rows = [{"prompt": PROMPTS[0], "reference": "  " + answers[0].upper() + " !"},  # same after normalising
            {"prompt": PROMPTS[1], "reference": answers[1] + " and something else"}]
    score = heldout.exact_match(smollm2, _write_jsonl(tmp_path / "h.jsonl", rows), max_new_tokens=6)
    assert (score.metric, score.correct, score.total, score.value) == ("exact_match", 1, 2, 0.5)
    assert score.adapter is None
    assert [e["prediction"] for e in score.examples] == answers


def test_heldout_file_missing_a_column_names_it(smollm2, tmp_path):
    path = _write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "x"}])
    with pytest.raises(DataError, match="reference"):
        heldout.exact_match(smollm2, path)


def test_classification_accuracy_counts_matching_labels_and_repeats_with_the_seed(minilm, tmp_path):
    rows = [{"text": t, "label": label} for t, label in
            [("great film", "pos"), ("awful plot", "neg"), ("loved it", "pos"), ("boring", "neg")]]
    path = _write_jsonl(tmp_path / "cls.jsonl", rows)
    score = heldout.classification_accuracy(minilm.info.name, path, seed=0)
    assert score.metric == "accuracy" and score.total == 4
    assert score.correct == sum(e["prediction"] == e["reference"] for e in score.examples)
    assert score.value == score.correct / 4
    assert {e["prediction"] for e in score.examples} <= {"neg", "pos"}
    assert heldout.classification_accuracy(minilm.info.name, path, seed=0).examples == score.examples
